import { describe, expect, it } from 'vitest';
import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { InvalidTransitionError } from '../../lambdas/domain/errors';
import { deduplicationIdOf } from '../../lambdas/domain/message-group';
import type { Agent } from '../../lambdas/domain/ports';
import { toView } from '../../lambdas/domain/task';
import { cancel, promote } from '../../lambdas/domain/task-lifecycle';
import { dispatch } from '../../lambdas/domain/use-cases/dispatch';
import { failDeadLettered } from '../../lambdas/domain/use-cases/fail-dead-lettered';
import { processTask } from '../../lambdas/domain/use-cases/process-task';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { InMemoryTaskRepository, ManualClock, principal, RecordingQueue, RecordingTelemetry, silentLogger } from '../../bin/harness/in-memory';

const options = { maxAttempts: 3, leaseMs: 30_000 };

const setup = () => {
  let runs = 0;
  const counting: Agent = { capability: 'count', description: 'counts runs', run: async () => (runs += 1) };
  const deps = {
    tasks: new InMemoryTaskRepository(), queue: new RecordingQueue(), agents: new StaticAgentRegistry([echoAgent, counting]),
    clock: new ManualClock(), logger: silentLogger, telemetry: new RecordingTelemetry(),
  };
  const queued = async (priority: 'low' | 'normal' | 'high' | 'critical' = 'low') => {
    const { taskId } = await submitTask(deps, principal(), { capability: 'count', input: null, priority });
    return (await deps.tasks.get('acme', taskId))!;
  };
  return { deps, queued, runs: () => runs };
};

describe('promote (the lifecycle transition)', () => {
  it('moves a queued task one level up, records the change and makes the dispatch pending', async () => {
    const { deps, queued } = setup();
    const task = await queued('low');
    const promoted = await promote(deps, task, 'aged');
    expect(promoted).toMatchObject({ status: 'queued', priority: 'normal', dispatchPending: true, version: task.version + 1 });
    expect(promoted.priorityChanges).toEqual([{ from: 'low', to: 'normal', at: deps.clock.now().toISOString(), reason: 'aged' }]);
    expect(toView(promoted).priorityChanges).toEqual(promoted.priorityChanges);
  });

  it('refuses a task that is not queued, a critical one, and a stale version', async () => {
    const { deps, queued } = setup();
    const cancelled = await cancel(deps, await queued('low'));
    await expect(promote(deps, cancelled, 'aged')).rejects.toThrow(InvalidTransitionError);
    await expect(promote(deps, await queued('critical'), 'deadline')).rejects.toThrow(InvalidTransitionError);
    const task = await queued('low');
    await promote(deps, task, 'aged');
    await expect(promote(deps, task, 'aged')).rejects.toThrow(/changed|version/);
    expect((await deps.tasks.get('acme', task.taskId))?.priority).toBe('normal');
  });

  it('keeps a bounded history: low → normal → high → critical, three entries, then no further', async () => {
    const { deps, queued } = setup();
    let task = await queued('low');
    task = await promote(deps, task, 'aged');
    task = await promote(deps, task, 'deadline');
    task = await promote(deps, task, 'aged');
    expect(task.priority).toBe('critical');
    expect(task.priorityChanges?.map((c) => `${c.from}>${c.to}:${c.reason}`)).toEqual(['low>normal:aged', 'normal>high:deadline', 'high>critical:aged']);
    await expect(promote(deps, task, 'aged')).rejects.toThrow(/critical/);
  });

  it('gives each level its own deduplication id', async () => {
    const { deps, queued } = setup();
    const task = await queued('low');
    const promoted = await promote(deps, task, 'aged');
    expect(deduplicationIdOf(task)).toBe(task.taskId);
    expect(deduplicationIdOf(promoted)).toBe(`${task.taskId}.p-normal`);
  });
});

describe('a promoted task in the worker', () => {
  it('discards the stale message from the old queue and runs the task once from the new one', async () => {
    const { deps, queued, runs } = setup();
    const task = await queued('low');
    const stale = deps.queue.sent.at(-1)!.message;
    await dispatch(deps, await promote(deps, task, 'aged'));
    const fresh = deps.queue.sent.at(-1)!;
    expect(fresh).toMatchObject({ priority: 'normal', message: { priority: 'normal' }, deduplicationId: `${task.taskId}.p-normal` });
    expect(await processTask(deps, stale, options)).toEqual({ kind: 'done' });
    expect(runs()).toBe(0);
    expect((await deps.tasks.get('acme', task.taskId))?.status).toBe('queued');
    expect(await processTask(deps, fresh.message, options)).toEqual({ kind: 'done' });
    expect(await processTask(deps, stale, options)).toEqual({ kind: 'done' });
    expect(runs()).toBe(1);
    expect(await deps.tasks.get('acme', task.taskId)).toMatchObject({ status: 'succeeded', attempts: 1, dispatchPending: false });
  });

  it('does not dead-letter a task for its stale copy reaching the old queue\'s DLQ', async () => {
    const { deps, queued } = setup();
    const task = await queued('low');
    await promote(deps, task, 'aged');
    expect(await failDeadLettered(deps, { tenantId: 'acme', taskId: task.taskId, priority: 'low' }, 9)).toBe('stale');
    expect((await deps.tasks.get('acme', task.taskId))?.status).toBe('queued');
  });
});
