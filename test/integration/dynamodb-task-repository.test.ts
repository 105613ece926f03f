import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, ValidationError } from '../../lambdas/domain/errors';
import { randomTaskId } from '../../lambdas/domain/ids';
import type { Task } from '../../lambdas/domain/task';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbTaskRepository } from '../../lambdas/adapters/dynamodb-task-repository';
import { ENV } from '../../lambdas/contracts';
import { startEmulatedPlatform, type EmulatedPlatform } from '../../bin/harness/emulated-platform';

let env: EmulatedPlatform;
beforeAll(async () => {
  env = await startEmulatedPlatform();
});
afterAll(() => env?.stop());

let clock = Date.parse('2026-11-25T10:00:00Z');
const newTask = (tenantId: string, overrides: Partial<Task> = {}): Task => {
  const at = new Date((clock += 1000)).toISOString();
  return {
    tenantId, taskId: randomTaskId(), capability: 'echo', input: { n: clock, nested: { list: [1, 'two', null] } }, priority: 'normal',
    status: 'queued', version: 0, attempts: 0, requestHash: 'h', submittedBy: 'u', dispatchPending: true, createdAt: at, updatedAt: at,
    ...overrides,
  };
};

describe('DynamoDbTaskRepository against dynalite (table created from the CDK template)', () => {
  it('creates once: a second create with the same id returns the stored task', async () => {
    const task = newTask('acme');
    expect((await env.tasks.create(task)).created).toBe(true);
    const again = await env.tasks.create({ ...task, capability: 'other' });
    expect(again.created).toBe(false);
    expect(again.task).toEqual(task);
  });

  it('round-trips any JSON input and result exactly', async () => {
    const task = newTask('acme', { input: { unicode: 'héllo ✓', big: 12345678901234, float: 0.1, empty: '', arr: [] } });
    await env.tasks.create(task);
    const updated = await env.tasks.update(task, { status: 'succeeded', result: { echoed: task.input } }, new Date());
    expect((await env.tasks.get('acme', task.taskId))?.result).toEqual({ echoed: task.input });
    expect(updated.version).toBe(1);
  });

  it('refuses an update from a stale version', async () => {
    const task = newTask('acme');
    await env.tasks.create(task);
    await env.tasks.update(task, { status: 'running' }, new Date());
    await expect(env.tasks.update(task, { status: 'cancelled' }, new Date())).rejects.toBeInstanceOf(ConcurrencyError);
  });

  it('lists a tenant\'s tasks newest first, page by page, and by status', async () => {
    const tenant = 'pager';
    const created = [];
    for (let i = 0; i < 5; i += 1) {
      const task = newTask(tenant);
      await env.tasks.create(task);
      created.push(task);
    }
    await env.tasks.update(created[1]!, { status: 'cancelled' }, new Date());
    const first = await env.tasks.list(tenant, { limit: 3 });
    const second = await env.tasks.list(tenant, { limit: 3, cursor: first.nextCursor! });
    expect([...first.tasks, ...second.tasks].map((t) => t.taskId)).toEqual(created.map((t) => t.taskId).reverse());
    const cancelled = await env.tasks.list(tenant, { limit: 10, status: 'cancelled' });
    expect(cancelled.tasks.map((t) => t.taskId)).toEqual([created[1]!.taskId]);
    expect((await env.tasks.list('somebody-else', { limit: 10 })).tasks).toEqual([]);
  });

  it('refuses a cursor made for another tenant or another listing', async () => {
    for (let i = 0; i < 2; i += 1) await env.tasks.create(newTask('cursor-a'));
    const page = await env.tasks.list('cursor-a', { limit: 1 });
    await expect(env.tasks.list('cursor-b', { limit: 1, cursor: page.nextCursor! })).rejects.toBeInstanceOf(ValidationError);
    await expect(env.tasks.list('cursor-a', { limit: 1, status: 'queued', cursor: page.nextCursor! })).rejects.toBeInstanceOf(ValidationError);
    await expect(env.tasks.list('cursor-a', { limit: 1, cursor: 'garbage' })).rejects.toBeInstanceOf(ValidationError);
    // A forged cursor of the right tenant and partition that lacks (or adds) a key: refused, never sent to DynamoDB.
    const forge = (k: Record<string, string>) => Buffer.from(JSON.stringify({ t: 'cursor-a', k })).toString('base64url');
    const base = { pk: 'TENANT#cursor-a', sk: 'TASK#x', gsi1pk: 'TENANT#cursor-a' };
    await expect(env.tasks.list('cursor-a', { limit: 1, cursor: forge(base) })).rejects.toBeInstanceOf(ValidationError);
    await expect(env.tasks.list('cursor-a', { limit: 1, cursor: forge({ ...base, gsi1sk: 'a', extra: 'b' }) })).rejects.toBeInstanceOf(ValidationError);
    expect((await env.tasks.list('cursor-a', { limit: 1, cursor: forge({ ...base, gsi1sk: '9999' }) })).tasks.length).toBeGreaterThan(0);
  });

  it('finds tasks whose dispatch is unconfirmed, and forgets them once confirmed', async () => {
    const task = newTask('dispatch');
    await env.tasks.create(task);
    const pending = await env.tasks.listDispatchPending(new Date(clock + 1), 1000);
    expect(pending.map((t) => t.taskId)).toContain(task.taskId);
    await env.tasks.update(task, { dispatchPending: false }, new Date());
    expect((await env.tasks.listDispatchPending(new Date(clock + 1), 1000)).map((t) => t.taskId)).not.toContain(task.taskId);
  });

  it('finds queued tasks to promote across tenants (waited past a time, or a deadline before one), and forgets them once claimed or promoted', async () => {
    const at = (iso: string) => new Date(iso);
    const t0 = '2020-01-01T00:00:00.000Z';
    const old = newTask('prom-a', { priority: 'low', createdAt: t0 });
    const other = newTask('prom-b', { priority: 'low', createdAt: '2020-01-01T00:01:00.000Z' });
    const young = newTask('prom-a', { priority: 'low', createdAt: '2020-01-01T00:30:00.000Z' });
    const urgent = newTask('prom-b', { priority: 'low', createdAt: '2020-01-01T00:30:00.000Z', deadline: '2020-01-01T00:35:00.000Z' });
    for (const task of [old, other, young, urgent]) await env.tasks.create(task);
    const query = { priority: 'low' as const, waitingBefore: at('2020-01-01T00:10:00.000Z'), deadlineBefore: at('2020-01-01T00:40:00.000Z'), limit: 10 };
    const ids = async () => (await env.tasks.listPromotable(query)).map((t) => t.taskId).sort();
    expect(await ids()).toEqual([old.taskId, other.taskId, urgent.taskId].sort());
    await env.tasks.update(other, { status: 'running', attempts: 1 }, new Date());
    const promoted = await env.tasks.update(old, { priority: 'normal', priorityChanges: [{ from: 'low', to: 'normal', at: '2020-01-01T00:20:00.000Z', reason: 'aged' }] }, new Date());
    expect(await ids()).toEqual([urgent.taskId]);
    const normal = await env.tasks.listPromotable({ ...query, priority: 'normal', waitingBefore: at('2020-01-01T00:30:00.000Z') });
    expect(normal.map((t) => [t.taskId, t.priority])).toEqual([[promoted.taskId, 'normal']]);
    expect(await env.tasks.listPromotable({ ...query, priority: 'normal', waitingBefore: at('2020-01-01T00:15:00.000Z') })).toEqual([]);
  });

  it('lists each task once, as it is now, even when the index still holds a stale row (as dynalite can after kill -9)', async () => {
    const tenant = 'stale-index';
    const task = newTask(tenant);
    await env.tasks.create(task);
    // Capture the task's index row while it is queued, then replay it into every later index query.
    const client = new DynamoDBClient(env.emulators.aws.dynamodb!);
    let staleRow: Record<string, unknown> | undefined;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'QueryCommand') {
          const output = result.output as { Items?: Record<string, unknown>[] };
          if (!staleRow) staleRow = output.Items?.[0];
          else output.Items = [...(output.Items ?? []), staleRow];
        }
        return result;
      },
      { step: 'initialize', name: 'replayStaleIndexRow' },
    );
    const repository = new DynamoDbTaskRepository(client, env.gatewayEnv[ENV.tasksTable]!);
    expect((await repository.list(tenant, { limit: 10 })).tasks.map((t) => t.status)).toEqual(['queued']);
    await env.tasks.update((await env.tasks.get(tenant, task.taskId))!, { status: 'succeeded', result: 1 }, new Date());
    const all = await repository.list(tenant, { limit: 10 });
    expect(all.tasks.map((t) => [t.taskId, t.status])).toEqual([[task.taskId, 'succeeded']]);
    expect((await repository.list(tenant, { limit: 10, status: 'queued' })).tasks).toEqual([]);
  });
});
