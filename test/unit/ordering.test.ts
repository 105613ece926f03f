import { describe, expect, it } from 'vitest';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { IdempotencyConflictError } from '../../lambdas/domain/errors';
import { messageGroupOf } from '../../lambdas/domain/message-group';
import type { TaskQueue } from '../../lambdas/domain/ports';
import { SubmitTaskInputSchema, submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { InMemoryTaskRepository, ManualClock, principal, silentLogger } from '../../bin/harness/in-memory';

const taskId = (n: number) => `tsk_${'a'.repeat(25)}${'abcdefghijklmnopqrstuvwxyz234567'[n]}`;

/** A queue that records the message group of each send. */
class GroupRecordingQueue implements TaskQueue {
  readonly groups: { taskId: string; group: string }[] = [];
  async send(message: { taskId: string }, _priority: string, messageGroup: string) {
    this.groups.push({ taskId: message.taskId, group: messageGroup });
  }
}

const setup = () => ({
  tasks: new InMemoryTaskRepository(),
  queue: new GroupRecordingQueue(),
  agents: StaticAgentRegistry.fromNames(['echo']),
  clock: new ManualClock(),
  logger: silentLogger,
});

describe('messageGroupOf: which tasks of a tenant run in order', () => {
  it('puts tasks that share an ordering key in one group, and other keys in other groups', () => {
    const a = messageGroupOf({ tenantId: 'acme', taskId: taskId(0), orderingKey: 'invoice-7' });
    expect(messageGroupOf({ tenantId: 'acme', taskId: taskId(1), orderingKey: 'invoice-7' })).toBe(a);
    expect(messageGroupOf({ tenantId: 'acme', taskId: taskId(0), orderingKey: 'invoice-8' })).not.toBe(a);
    expect(a.startsWith('acme#')).toBe(true);
  });

  it("never shares a group with another tenant's same key", () => {
    expect(messageGroupOf({ tenantId: 'acme', taskId: taskId(0), orderingKey: 'k' })).not.toBe(
      messageGroupOf({ tenantId: 'globex', taskId: taskId(0), orderingKey: 'k' }),
    );
  });

  it('gives each task without an ordering key a group of its own', () => {
    const groups = new Set(Array.from({ length: 20 }, (_, n) => messageGroupOf({ tenantId: 'acme', taskId: taskId(n) })));
    expect(groups.size).toBe(20);
    expect(groups).not.toContain(messageGroupOf({ tenantId: 'acme', taskId: taskId(0), orderingKey: taskId(0) }));
  });

  it('stays a valid SQS group id (≤ 128 alphanumeric or punctuation characters) for the longest tenant and key', () => {
    const tenantId = `a${'-'.repeat(62)}`;
    for (const group of [
      messageGroupOf({ tenantId, taskId: taskId(3), orderingKey: '~'.repeat(128) }),
      messageGroupOf({ tenantId, taskId: taskId(3) }),
    ]) {
      expect(group.length).toBeLessThanOrEqual(128);
      expect(group).toMatch(/^[\x21-\x7e]+$/);
    }
  });
});

describe('submit_task with an orderingKey', () => {
  it('stores the key, shows it in the view and sends the task to the key group', async () => {
    const deps = setup();
    const first = await submitTask(deps, principal(), { capability: 'echo', input: 1, orderingKey: 'order-42' });
    const second = await submitTask(deps, principal(), { capability: 'echo', input: 2, orderingKey: 'order-42' });
    const free = await submitTask(deps, principal(), { capability: 'echo', input: 3 });
    expect(first.orderingKey).toBe('order-42');
    expect(free.orderingKey).toBeUndefined();
    expect((await deps.tasks.get('acme', first.taskId))?.orderingKey).toBe('order-42');
    const [g1, g2, g3] = deps.queue.groups;
    expect(g1).toEqual({ taskId: first.taskId, group: messageGroupOf({ tenantId: 'acme', taskId: first.taskId, orderingKey: 'order-42' }) });
    expect(g2!.group).toBe(g1!.group);
    expect(g3).toEqual({ taskId: free.taskId, group: messageGroupOf({ tenantId: 'acme', taskId: free.taskId }) });
  });

  it('makes the key part of the idempotent request: the same idempotency key with another ordering key is a conflict', async () => {
    const deps = setup();
    const first = await submitTask(deps, principal(), { capability: 'echo', input: 1, idempotencyKey: 'i', orderingKey: 'a' });
    expect((await submitTask(deps, principal(), { capability: 'echo', input: 1, idempotencyKey: 'i', orderingKey: 'a' })).taskId).toBe(first.taskId);
    for (const orderingKey of ['b', undefined]) {
      await expect(
        submitTask(deps, principal(), { capability: 'echo', input: 1, idempotencyKey: 'i', ...(orderingKey ? { orderingKey } : {}) }),
      ).rejects.toBeInstanceOf(IdempotencyConflictError);
    }
  });

  it('accepts 1–128 printable ASCII characters and nothing else', () => {
    const parse = (orderingKey: unknown) => SubmitTaskInputSchema.safeParse({ capability: 'echo', input: 1, orderingKey }).success;
    expect(parse('a')).toBe(true);
    expect(parse('~'.repeat(128))).toBe(true);
    for (const bad of ['', 'x'.repeat(129), 'with space', 'é', 'tab\t', 7, null]) expect(parse(bad)).toBe(false);
  });
});
