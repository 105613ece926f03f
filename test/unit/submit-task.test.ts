import { describe, expect, it } from 'vitest';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { ForbiddenError, IdempotencyConflictError, UnknownCapabilityError, ValidationError } from '../../lambdas/domain/errors';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { InMemoryTaskRepository, ManualClock, principal, RecordingQueue, silentLogger } from '../../bin/harness/in-memory';

const setup = () => {
  const deps = {
    tasks: new InMemoryTaskRepository(),
    queue: new RecordingQueue(),
    agents: StaticAgentRegistry.fromNames(['echo']),
    clock: new ManualClock(),
    logger: silentLogger,
  };
  return deps;
};

describe('submitTask', () => {
  it('stores a queued task, sends it to the queue of its priority, and confirms the dispatch', async () => {
    const deps = setup();
    const view = await submitTask(deps, principal(), { capability: 'echo', input: { a: 1 }, priority: 'high' });
    expect(view).toMatchObject({ status: 'queued', priority: 'high', capability: 'echo' });
    expect(deps.queue.sent).toEqual([{ message: { tenantId: 'acme', taskId: view.taskId, priority: 'high' }, priority: 'high', deduplicationId: view.taskId }]);
    expect((await deps.tasks.get('acme', view.taskId))?.dispatchPending).toBe(false);
  });

  it('defaults the priority to normal', async () => {
    const deps = setup();
    expect((await submitTask(deps, principal(), { capability: 'echo', input: 'x' })).priority).toBe('normal');
  });

  it('rejects an unknown capability before writing anything', async () => {
    const deps = setup();
    await expect(submitTask(deps, principal(), { capability: 'translate', input: 1 })).rejects.toBeInstanceOf(UnknownCapabilityError);
    expect(deps.tasks.items.size).toBe(0);
    expect(deps.queue.sent).toHaveLength(0);
  });

  it('returns the first task for a repeated idempotency key, without a second message', async () => {
    const deps = setup();
    const first = await submitTask(deps, principal(), { capability: 'echo', input: 1, idempotencyKey: 'k-1' });
    const second = await submitTask(deps, principal(), { capability: 'echo', input: 1, idempotencyKey: 'k-1' });
    expect(second.taskId).toBe(first.taskId);
    expect(deps.tasks.items.size).toBe(1);
    expect(deps.queue.sent).toHaveLength(1);
  });

  it('scopes idempotency keys to the tenant', async () => {
    const deps = setup();
    const a = await submitTask(deps, principal('acme'), { capability: 'echo', input: 1, idempotencyKey: 'same' });
    const b = await submitTask(deps, principal('globex'), { capability: 'echo', input: 1, idempotencyKey: 'same' });
    expect(a.taskId).not.toBe(b.taskId);
  });

  it('refuses a reused idempotency key with different parameters', async () => {
    const deps = setup();
    await submitTask(deps, principal(), { capability: 'echo', input: 1, idempotencyKey: 'k' });
    await expect(submitTask(deps, principal(), { capability: 'echo', input: 2, idempotencyKey: 'k' })).rejects.toBeInstanceOf(
      IdempotencyConflictError,
    );
  });

  it('finishes an interrupted dispatch when the client retries with its idempotency key', async () => {
    const deps = setup();
    deps.queue.failNext = 1;
    await expect(submitTask(deps, principal(), { capability: 'echo', input: 1, idempotencyKey: 'retry' })).rejects.toThrow('queue unavailable');
    const [stored] = [...deps.tasks.items.values()];
    expect(stored?.dispatchPending).toBe(true);
    const replay = await submitTask(deps, principal(), { capability: 'echo', input: 1, idempotencyKey: 'retry' });
    expect(replay.taskId).toBe(stored?.taskId);
    expect(deps.queue.sent).toHaveLength(1);
    expect((await deps.tasks.get('acme', replay.taskId))?.dispatchPending).toBe(false);
  });

  it('gives the creator its task id even when the worker moves the task on while the dispatch is being confirmed', async () => {
    const deps = setup();
    // Each time the submit tries to confirm its dispatch, the worker writes first (claim, then succeed).
    const tasks = deps.tasks;
    const update = tasks.update.bind(tasks);
    let interleaved = 0;
    tasks.update = async (task, patch, now) => {
      if (patch.dispatchPending === false && interleaved < 2) {
        interleaved += 1;
        const stored = (await tasks.get(task.tenantId, task.taskId))!;
        await update(stored, interleaved === 1 ? { status: 'running', attempts: 1 } : { status: 'succeeded', result: 1 }, now);
      }
      return update(task, patch, now);
    };
    const view = await submitTask(deps, principal(), { capability: 'echo', input: 1, idempotencyKey: 'raced' });
    expect(view.taskId).toMatch(/^tsk_/);
    expect(interleaved).toBe(2);
    expect(await tasks.get('acme', view.taskId)).toMatchObject({ status: 'succeeded', dispatchPending: false });
  });

  it('rejects a deadline in the past and an oversized input', async () => {
    const deps = setup();
    await expect(submitTask(deps, principal(), { capability: 'echo', input: 1, deadline: '2020-01-01T00:00:00Z' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(submitTask(deps, principal(), { capability: 'echo', input: 'x'.repeat(70_000) })).rejects.toBeInstanceOf(ValidationError);
  });

});
