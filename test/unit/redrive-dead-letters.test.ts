import { describe, expect, it } from 'vitest';
import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { ForbiddenError, InvalidTransitionError } from '../../lambdas/domain/errors';
import { redrive } from '../../lambdas/domain/task-lifecycle';
import { failDeadLettered } from '../../lambdas/domain/use-cases/fail-dead-lettered';
import { processTask } from '../../lambdas/domain/use-cases/process-task';
import { redriveDeadLetters } from '../../lambdas/domain/use-cases/redrive-dead-letters';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { InMemoryTaskRepository, ManualClock, principal, RecordingQueue, RecordingTelemetry, silentLogger } from '../../bin/harness/in-memory';

const setup = () => {
  const telemetry = new RecordingTelemetry();
  const deps = {
    tasks: new InMemoryTaskRepository(), queue: new RecordingQueue(), agents: new StaticAgentRegistry([echoAgent]),
    clock: new ManualClock(), logger: silentLogger, telemetry,
  };
  /** Submits a task for `tenant` and dead-letters its message; returns the task id. */
  const deadLettered = async (tenant = 'acme', priority: 'low' | 'high' = 'low') => {
    const { taskId } = await submitTask(deps, principal(tenant), { capability: 'echo', input: tenant, priority });
    await failDeadLettered(deps, { tenantId: tenant, taskId, priority }, 9);
    return taskId;
  };
  return { deps, telemetry, deadLettered };
};
const operator = principal('platform', ['operator']);

describe('redrive (the lifecycle transition)', () => {
  it('moves a task failed with DEAD_LETTERED back to queued once: attempts from 0, no error, dispatch pending', async () => {
    const { deps, deadLettered } = setup();
    const taskId = await deadLettered();
    const queued = await redrive(deps, (await deps.tasks.get('acme', taskId))!);
    expect(queued).toMatchObject({ status: 'queued', attempts: 0, dispatchPending: true, redrivenAt: deps.clock.now().toISOString() });
    expect(queued.error).toBeUndefined();
  });

  it('refuses a task that failed with another code, or did not fail', async () => {
    const { deps } = setup();
    const { taskId } = await submitTask(deps, principal(), { capability: 'echo', input: 1 });
    await expect(redrive(deps, (await deps.tasks.get('acme', taskId))!)).rejects.toThrow(InvalidTransitionError);
    await processTask(deps, deps.queue.sent[0]!.message, { maxAttempts: 3, leaseMs: 1000 });
    await expect(redrive(deps, (await deps.tasks.get('acme', taskId))!)).rejects.toThrow(/succeeded/);
    const failed = await deps.tasks.update((await deps.tasks.get('acme', taskId))!, { status: 'failed', error: { code: 'AGENT_ERROR', message: 'x' } }, new Date());
    await expect(redrive(deps, failed)).rejects.toThrow(/AGENT_ERROR/);
  });

  it('refuses a second redrive, and a second dead-lettering is final', async () => {
    const { deps, deadLettered } = setup();
    const taskId = await deadLettered();
    await redrive(deps, (await deps.tasks.get('acme', taskId))!);
    await failDeadLettered(deps, { tenantId: 'acme', taskId, priority: 'low' }, 9);
    const final = (await deps.tasks.get('acme', taskId))!;
    expect(final).toMatchObject({ status: 'failed', error: { code: 'DEAD_LETTERED', message: expect.stringMatching(/final$/) } });
    await expect(redrive(deps, final)).rejects.toThrow(/redriven before/);
    expect((await redriveDeadLetters(deps, operator, { priority: 'low' }, { anyTenant: true })).redriven).toEqual([]);
  });
});

describe('redriveDeadLetters', () => {
  it('without anyTenant redrives only the principal\'s tenant\'s dead letters, whatever its roles', async () => {
    const { deps, deadLettered } = setup();
    const own = await deadLettered('acme');
    await deadLettered('globex');
    expect((await redriveDeadLetters(deps, principal('acme', ['operator']), { priority: 'low' }, { anyTenant: false })).redriven).toEqual([{ tenantId: 'acme', taskId: own }]);
    expect((await deps.tasks.list('globex', { limit: 10 })).tasks[0]).toMatchObject({ status: 'failed' });
  });

  it('an operator redrives every tenant\'s dead letters of the priority and dispatches each with a new deduplication id', async () => {
    const { deps, telemetry, deadLettered } = setup();
    const a = await deadLettered('acme');
    const b = await deadLettered('globex');
    const other = await deadLettered('acme', 'high');
    const sentBefore = deps.queue.sent.length;
    const result = await redriveDeadLetters(deps, operator, { priority: 'low' }, { anyTenant: true });
    expect(result.redriven).toEqual(expect.arrayContaining([{ tenantId: 'acme', taskId: a }, { tenantId: 'globex', taskId: b }]));
    expect(result.redriven).toHaveLength(2);
    expect(deps.queue.sent.slice(sentBefore).map((s) => s.deduplicationId).sort()).toEqual([`${a}.redrive`, `${b}.redrive`].sort());
    expect(await deps.tasks.get('acme', a)).toMatchObject({ status: 'queued', dispatchPending: false });
    expect(await deps.tasks.get('acme', other)).toMatchObject({ status: 'failed' });
    expect(telemetry.events.filter((e) => e === 'redriven')).toHaveLength(2);
  });

  it('an admin redrives only its own tenant\'s; another tenant\'s stay failed', async () => {
    const { deps, deadLettered } = setup();
    const own = await deadLettered('acme');
    const foreign = await deadLettered('globex');
    expect((await redriveDeadLetters(deps, principal('acme', ['admin']), { priority: 'low' })).redriven).toEqual([{ tenantId: 'acme', taskId: own }]);
    expect(await deps.tasks.get('globex', foreign)).toMatchObject({ status: 'failed', error: { code: 'DEAD_LETTERED' } });
  });

  it('redrives at most `max`, oldest first, and the next call the rest', async () => {
    const { deps, deadLettered } = setup();
    for (let n = 0; n < 3; n += 1) {
      await deadLettered();
      deps.clock.advance(1000);
    }
    expect((await redriveDeadLetters(deps, operator, { priority: 'low', max: 2 }, { anyTenant: true })).redriven).toHaveLength(2);
    expect((await redriveDeadLetters(deps, operator, { priority: 'low', max: 2 }, { anyTenant: true })).redriven).toHaveLength(1);
    expect((await redriveDeadLetters(deps, operator, { priority: 'low', max: 2 }, { anyTenant: true })).redriven).toHaveLength(0);
  });

  it('refuses arguments outside the schema', async () => {
    const { deps } = setup();
    for (const bad of [{ priority: 'urgent' }, { priority: 'low', max: 0 }, { priority: 'low', max: 101 }, { priority: 'low', tenantId: 'x' }, {}]) {
      await expect(redriveDeadLetters(deps, operator, bad as never)).rejects.toThrow();
    }
  });

  it('a redriven task whose dispatch failed is left dispatch-pending for the reconciler', async () => {
    const { deps, deadLettered } = setup();
    const taskId = await deadLettered();
    deps.queue.failNext = 1;
    expect((await redriveDeadLetters(deps, operator, { priority: 'low' }, { anyTenant: true })).redriven).toHaveLength(1);
    expect(await deps.tasks.get('acme', taskId)).toMatchObject({ status: 'queued', dispatchPending: true });
  });
});
