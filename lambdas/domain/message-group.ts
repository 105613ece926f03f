import { createHash } from 'node:crypto';
import type { Task } from './task';

/**
 * The FIFO message group of a task: what runs in order and what runs side by side. SQS hands out
 * one group's messages one after another (the next only once the previous is deleted), and the
 * worker runs a batch's groups concurrently, so:
 *
 * - tasks of a tenant that share an `orderingKey` share a group, `<tenant>#key-<hash of the key>`,
 *   and run in submission order (per priority: each priority is its own queue);
 * - every other task is a group of its own, `<tenant>#<taskId>`, and runs as soon as a worker is
 *   free, whatever else the tenant has queued.
 *
 * Not a fixed number of shards per tenant: with tasks spread by hash over S shards the busiest
 * shard runs its tasks one after another, and even 64 shards leave the busiest of them with four
 * or more of 50 tasks in a quarter of bursts. The group is computed here and only here (the
 * gateway's submit and the reconciler's re-send both go through `dispatch`).
 */
export const messageGroupOf = (task: Pick<Task, 'tenantId' | 'taskId' | 'orderingKey'>): string =>
  task.orderingKey === undefined ? `${task.tenantId}#${task.taskId}` : `${task.tenantId}#key-${keyHash(task.orderingKey)}`;

/** 132 bits of SHA-256, base64url: a group id stays under SQS's 128 characters whatever the key. */
const keyHash = (orderingKey: string): string => createHash('sha256').update(orderingKey).digest('base64url').slice(0, 22);

/**
 * The FIFO deduplication id of a task's message: the task id, so every re-send of one dispatch
 * (reconciler, replays) is dropped within SQS's 5-minute window; after a redrive, the task id
 * with `.redrive`, so the redriven message is not taken for a repeat of the first one; after a
 * promotion, with `.p-<priority>` as well (each level is reached at most once, so each id is new).
 */
export const deduplicationIdOf = (task: Pick<Task, 'taskId' | 'redrivenAt' | 'priority' | 'priorityChanges'>): string =>
  `${task.taskId}${task.redrivenAt === undefined ? '' : '.redrive'}${task.priorityChanges?.length ? `.p-${task.priority}` : ''}`;
