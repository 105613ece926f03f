import { describe, expect, it } from 'vitest';
import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { systemClock, type Agent } from '../../lambdas/domain/ports';
import { cancelTask } from '../../lambdas/domain/use-cases/cancel-task';
import { processTask } from '../../lambdas/domain/use-cases/process-task';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { InvalidTransitionError, NotFoundError } from '../../lambdas/domain/errors';
import { InMemoryTaskRepository, ManualClock, principal, RecordingQueue, silentLogger } from '../../bin/harness/in-memory';

const options = { maxAttempts: 3, leaseMs: 30_000 };

const setup = (agents: Agent[] = []) => {
  const registry = new StaticAgentRegistry([echoAgent, ...agents]);
  const deps = { tasks: new InMemoryTaskRepository(), queue: new RecordingQueue(), agents: registry, clock: new ManualClock(), logger: silentLogger };
  const submit = async (capability = 'echo', input: unknown = { hello: 'world' }) => {
    await submitTask(deps, principal(), { capability, input });
    return deps.queue.sent.at(-1)!.message;
  };
  return { deps, submit };
};

describe('processTask', () => {
  it('runs the agent and records succeeded with its result', async () => {
    const { deps, submit } = setup();
    const message = await submit();
    expect(await processTask(deps, message, options)).toEqual({ kind: 'done' });
    const task = await deps.tasks.get('acme', message.taskId);
    expect(task).toMatchObject({ status: 'succeeded', result: { hello: 'world' }, attempts: 1 });
    expect(task?.leaseUntil).toBeUndefined();
  });

  it('does nothing for a duplicate delivery of a finished task', async () => {
    const { deps, submit } = setup();
    const message = await submit();
    await processTask(deps, message, options);
    const writes = deps.tasks.writes;
    expect(await processTask(deps, message, options)).toEqual({ kind: 'done' });
    expect(deps.tasks.writes).toBe(writes);
  });

  it('leaves a task leased by another delivery alone and asks for a retry', async () => {
    let release!: () => void;
    const slow: Agent = { capability: 'slow', description: 'slow', run: () => new Promise((r) => (release = () => r('late'))) };
    const { deps, submit } = setup([slow]);
    const message = await submit('slow');
    const first = processTask(deps, message, options);
    await new Promise((r) => setTimeout(r, 5));
    expect(await processTask(deps, message, options)).toMatchObject({ kind: 'retry' });
    release();
    expect(await first).toEqual({ kind: 'done' });
    expect((await deps.tasks.get('acme', message.taskId))?.status).toBe('succeeded');
  });

  it('retries a failing agent and fails the task after maxAttempts', async () => {
    const flaky: Agent = { capability: 'flaky', description: 'always fails', run: async () => { throw new Error('boom'); } };
    const { deps, submit } = setup([flaky]);
    const message = await submit('flaky');
    expect(await processTask(deps, message, options)).toMatchObject({ kind: 'retry' });
    expect(await processTask(deps, message, options)).toMatchObject({ kind: 'retry' });
    expect(await processTask(deps, message, options)).toEqual({ kind: 'done' });
    expect(await deps.tasks.get('acme', message.taskId)).toMatchObject({ status: 'failed', attempts: 3, error: { code: 'AGENT_ERROR', message: 'boom' } });
  });

  it('fails a task whose worker died on every attempt once its lease expires', async () => {
    const { deps, submit } = setup();
    const message = await submit();
    const task = (await deps.tasks.get('acme', message.taskId))!;
    await deps.tasks.update(task, { status: 'running', attempts: 3, leaseUntil: deps.clock.now().toISOString() }, deps.clock.now());
    deps.clock.advance(1);
    expect(await processTask(deps, message, options)).toEqual({ kind: 'done' });
    expect((await deps.tasks.get('acme', message.taskId))?.error?.code).toBe('ATTEMPTS_EXHAUSTED');
  });

  it('fails a task whose deadline passed before it ran', async () => {
    const { deps } = setup();
    const view = await submitTask(deps, principal(), { capability: 'echo', input: 1, deadline: '2026-11-25T12:01:00Z' });
    deps.clock.advance(120_000);
    await processTask(deps, { tenantId: 'acme', taskId: view.taskId, priority: 'normal' }, options);
    expect((await deps.tasks.get('acme', view.taskId))?.error?.code).toBe('DEADLINE_EXCEEDED');
  });

  it('drops a message for a task that does not exist', async () => {
    const { deps } = setup();
    expect(await processTask(deps, { tenantId: 'acme', taskId: `tsk_${'a'.repeat(26)}`, priority: 'low' }, options)).toEqual({ kind: 'done' });
  });

  it('keeps cancelled when the task is cancelled while its agent runs', async () => {
    let release!: () => void;
    const slow: Agent = { capability: 'slow', description: 'slow', run: () => new Promise((r) => (release = () => r('late'))) };
    const { deps, submit } = setup([slow]);
    const message = await submit('slow');
    const running = processTask(deps, message, options);
    await new Promise((r) => setTimeout(r, 5));
    expect(await cancelTask(deps, principal(), { taskId: message.taskId })).toEqual({ taskId: message.taskId, status: 'cancelled' });
    release();
    expect(await running).toEqual({ kind: 'done' });
    expect(await deps.tasks.get('acme', message.taskId)).toMatchObject({ status: 'cancelled' });
    expect((await deps.tasks.get('acme', message.taskId))?.result).toBeUndefined();
  });
});

describe('processTask: lease, heartbeat and retry timing', () => {
  const withSystemClock = (agents: Agent[]) => {
    const { deps, submit } = setup(agents);
    return { deps: { ...deps, clock: systemClock }, submit };
  };

  it('renews the lease while a slow agent runs, so no other delivery takes the task, then ends it once', async () => {
    let release!: () => void;
    const slow: Agent = { capability: 'slow', description: 'slow', run: () => new Promise((r) => (release = () => r('late'))) };
    const { deps, submit } = withSystemClock([slow]);
    const message = await submit('slow');
    const running = processTask(deps, message, { maxAttempts: 3, leaseMs: 60 });
    await new Promise((r) => setTimeout(r, 200)); // more than three leases
    const during = (await deps.tasks.get('acme', message.taskId))!;
    expect(during.version).toBeGreaterThan(3); // created, dispatched, claimed, renewed…
    expect(Date.parse(during.leaseUntil!)).toBeGreaterThan(Date.now());
    const second = await processTask(deps, message, { maxAttempts: 3, leaseMs: 60 });
    expect(second).toMatchObject({ kind: 'retry' });
    release();
    expect(await running).toEqual({ kind: 'done' });
    expect(await deps.tasks.get('acme', message.taskId)).toMatchObject({ status: 'succeeded', result: 'late', attempts: 1 });
  });

  it('asks a redelivery that meets a held lease to come back just after the lease ends', async () => {
    let release!: () => void;
    const slow: Agent = { capability: 'slow', description: 'slow', run: () => new Promise((r) => (release = () => r('x'))) };
    const { deps, submit } = setup([slow]);
    const message = await submit('slow');
    const running = processTask(deps, message, { maxAttempts: 3, leaseMs: 10_000 });
    await new Promise((r) => setTimeout(r, 5));
    deps.clock.advance(4_000);
    const outcome = await processTask(deps, message, { maxAttempts: 3, leaseMs: 10_000 });
    expect(outcome).toEqual({ kind: 'retry', afterMs: 6_500 });
    release();
    await running;
  });

  it('aborts the agent when a heartbeat finds the task cancelled, and keeps cancelled', async () => {
    let aborted = false;
    const stubborn: Agent = {
      capability: 'stubborn',
      description: 'runs until aborted',
      run: (_input, context) =>
        new Promise((_, reject) => context.signal?.addEventListener('abort', () => ((aborted = true), reject(new Error('aborted'))))),
    };
    const { deps, submit } = withSystemClock([stubborn]);
    const message = await submit('stubborn');
    const running = processTask(deps, message, { maxAttempts: 3, leaseMs: 60 });
    await new Promise((r) => setTimeout(r, 10));
    await cancelTask(deps, principal(), { taskId: message.taskId });
    expect(await running).toEqual({ kind: 'done' });
    expect(aborted).toBe(true);
    expect(await deps.tasks.get('acme', message.taskId)).toMatchObject({ status: 'cancelled' });
  });

  it('retries a failed attempt after a delay that grows with the attempts', async () => {
    const flaky: Agent = { capability: 'flaky', description: 'always fails', run: async () => { throw new Error('boom'); } };
    const { deps, submit } = setup([flaky]);
    const message = await submit('flaky');
    expect(await processTask(deps, message, { ...options, retryDelayMs: 1_000 })).toEqual({ kind: 'retry', afterMs: 1_000 });
    expect(await processTask(deps, message, { ...options, retryDelayMs: 1_000 })).toEqual({ kind: 'retry', afterMs: 2_000 });
  });

  it('clears an unconfirmed dispatch when it claims the task (the delivery proves it was sent)', async () => {
    const { deps, submit } = setup();
    const message = await submit();
    const task = (await deps.tasks.get('acme', message.taskId))!;
    await deps.tasks.update(task, { dispatchPending: true }, deps.clock.now());
    await processTask(deps, message, options);
    expect(await deps.tasks.get('acme', message.taskId)).toMatchObject({ status: 'succeeded', dispatchPending: false });
  });
});

describe('cancelTask', () => {
  it('cancels a queued task, so the worker never runs it', async () => {
    const { deps, submit } = setup();
    const message = await submit();
    await cancelTask(deps, principal(), { taskId: message.taskId });
    expect(await processTask(deps, message, options)).toEqual({ kind: 'done' });
    expect((await deps.tasks.get('acme', message.taskId))?.status).toBe('cancelled');
  });

  it('answers the same for a second cancel, and refuses to cancel a finished task', async () => {
    const { deps, submit } = setup();
    const queued = await submit();
    await cancelTask(deps, principal(), { taskId: queued.taskId });
    expect((await cancelTask(deps, principal(), { taskId: queued.taskId })).status).toBe('cancelled');
    const done = await submit();
    await processTask(deps, done, options);
    await expect(cancelTask(deps, principal(), { taskId: done.taskId })).rejects.toBeInstanceOf(InvalidTransitionError);
  });

  it('treats a task of another tenant as not found', async () => {
    const { deps, submit } = setup();
    const message = await submit();
    await expect(cancelTask(deps, principal('globex'), { taskId: message.taskId })).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('cancelTask under constant races', () => {
  it('answers CONFLICT with "try again" after losing five races in a row, and writes nothing', async () => {
    const { deps, submit } = setup();
    const message = await submit();
    const tasks = deps.tasks;
    const update = tasks.update.bind(tasks);
    let lost = 0;
    // Another writer always moves the task on between cancel's read and its write.
    tasks.update = async (task, patch, now) => {
      if (patch.status === 'cancelled') {
        lost += 1;
        await update((await tasks.get(task.tenantId, task.taskId))!, { attempts: task.attempts }, now);
      }
      return update(task, patch, now);
    };
    await expect(cancelTask(deps, principal(), { taskId: message.taskId })).rejects.toThrow(`task ${message.taskId} is changing too fast; try again`);
    expect(lost).toBe(5);
    expect((await tasks.get('acme', message.taskId))?.status).toBe('queued');
  });
});
