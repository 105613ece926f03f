import { describe, expect, it } from 'vitest';
import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { escalateAged } from '../../lambdas/domain/use-cases/escalate';
import { processTask } from '../../lambdas/domain/use-cases/process-task';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { InMemoryTaskRepository, ManualClock, principal, RecordingQueue, silentLogger } from '../../bin/harness/in-memory';

const agingMs = { high: 60_000, normal: 300_000, low: 900_000 };

const setup = () => {
  const deps = { tasks: new InMemoryTaskRepository(), queue: new RecordingQueue(), agents: new StaticAgentRegistry([echoAgent]), clock: new ManualClock(), logger: silentLogger };
  const submit = async (priority: 'low' | 'normal' | 'high' | 'critical', deadline?: string) =>
    (await submitTask(deps, principal(), { capability: 'echo', input: null, priority, ...(deadline ? { deadline } : {}) })).taskId;
  return { deps, submit };
};

describe('escalateAged', () => {
  it('promotes a task that waited longer than its level allows, one level per run, and dispatches it to the new queue', async () => {
    const { deps, submit } = setup();
    const old = await submit('low');
    deps.clock.advance(900_001);
    const young = await submit('low');
    const promoted = await escalateAged(deps, { agingMs, limit: 10 });
    expect(promoted.map((t) => t.taskId)).toEqual([old]);
    expect(await deps.tasks.get('acme', old)).toMatchObject({ priority: 'normal', dispatchPending: false, priorityChanges: [{ from: 'low', to: 'normal', reason: 'aged' }] });
    expect(deps.queue.sent.at(-1)).toMatchObject({ priority: 'normal', deduplicationId: `${old}.p-normal` });
    expect((await deps.tasks.get('acme', young))?.priority).toBe('low');
    // Waiting starts again at the new level: the next run leaves it alone, a run after normal's SLA moves it on.
    expect(await escalateAged(deps, { agingMs, limit: 10 })).toEqual([]);
    deps.clock.advance(300_001);
    expect((await escalateAged(deps, { agingMs, limit: 10 })).map((t) => [t.taskId, t.priority])).toEqual([[old, 'high']]);
    expect((await deps.tasks.get('acme', young))?.priority).toBe('low');
  });

  it('promotes a task whose deadline is closer than its level\'s SLA, with reason deadline', async () => {
    const { deps, submit } = setup();
    const soon = await submit('normal', new Date(deps.clock.now().getTime() + 120_000).toISOString());
    const later = await submit('normal', new Date(deps.clock.now().getTime() + 3_600_000).toISOString());
    expect((await escalateAged(deps, { agingMs, limit: 10 })).map((t) => t.taskId)).toEqual([soon]);
    expect((await deps.tasks.get('acme', soon))?.priorityChanges).toEqual([{ from: 'normal', to: 'high', at: deps.clock.now().toISOString(), reason: 'deadline' }]);
    expect((await deps.tasks.get('acme', later))?.priority).toBe('normal');
  });

  it('leaves critical, running and finished tasks alone, and runs a promoted task once', async () => {
    const { deps, submit } = setup();
    await submit('critical');
    const done = await submit('high');
    await processTask(deps, deps.queue.sent.at(-1)!.message, { maxAttempts: 3, leaseMs: 30_000 });
    const waiting = await submit('high');
    const stale = deps.queue.sent.at(-1)!.message;
    deps.clock.advance(3_600_000);
    expect((await escalateAged(deps, { agingMs, limit: 10 })).map((t) => t.taskId)).toEqual([waiting]);
    expect((await deps.tasks.get('acme', done))?.priorityChanges).toBeUndefined();
    await processTask(deps, stale, { maxAttempts: 3, leaseMs: 30_000 });
    expect((await deps.tasks.get('acme', waiting))?.status).toBe('queued');
    await processTask(deps, deps.queue.sent.at(-1)!.message, { maxAttempts: 3, leaseMs: 30_000 });
    expect(await deps.tasks.get('acme', waiting)).toMatchObject({ status: 'succeeded', attempts: 1, priority: 'critical' });
  });
});
