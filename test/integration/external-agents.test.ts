import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { systemClock, type Clock } from '../../lambdas/domain/ports';
import { claimTask, completeTask, heartbeatTask } from '../../lambdas/domain/use-cases/pull-tasks';
import { processTask } from '../../lambdas/domain/use-cases/process-task';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { startEmulatedPlatform, type EmulatedPlatform } from '../../bin/harness/emulated-platform';
import { ManualClock, principal, silentLogger, TerminalEvents } from '../../bin/harness/in-memory';

/**
 * External agents on the emulators (dynalite + fauxqs, the real repository and its claimable index):
 * racing agents claim each task exactly once, and a silent agent's task is reassigned.
 */

let env: EmulatedPlatform;
beforeAll(async () => {
  env = await startEmulatedPlatform();
});
afterAll(() => env?.stop());

const deps = (clock: Clock, telemetry: TerminalEvents, leaseMs = 60_000) => ({
  tasks: env.tasks,
  queue: env.queue,
  agents: new StaticAgentRegistry([echoAgent]),
  clock,
  logger: silentLogger,
  telemetry,
  pullCapabilities: ['translate'],
  pull: { leaseMs, maxAttempts: 3 },
});

describe('external agents on the emulators', () => {
  it('20 agents claim 30 tasks concurrently: each task is claimed once, completed once, one terminal event each', async () => {
    const telemetry = new TerminalEvents();
    const d = deps(systemClock, telemetry);
    const tenant = 'pull-race';
    const ids = [];
    for (let n = 0; n < 30; n++) ids.push((await submitTask(d, principal(tenant), { capability: 'translate', input: { n } })).taskId);
    // Another tenant's tasks are never claimed by this tenant's agents.
    const foreign = (await submitTask(d, principal('pull-other'), { capability: 'translate', input: 0 })).taskId;

    const claims: { agent: number; taskId: string; attempt: number }[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async (_, agent) => {
        for (;;) {
          const result = await claimTask(d, principal(tenant, ['agent']), { capabilities: ['translate'] });
          if ('task' in result) return;
          claims.push({ agent, taskId: result.taskId, attempt: result.attempt });
          await completeTask(d, principal(tenant, ['agent']), { taskId: result.taskId, leaseId: result.leaseId, output: { by: agent } });
        }
      }),
    );

    expect(claims.map((c) => c.taskId).sort()).toEqual([...ids].sort());
    expect(claims.every((c) => c.attempt === 1)).toBe(true);
    expect(new Set(claims.map((c) => c.agent)).size).toBeGreaterThan(1);
    for (const taskId of ids) {
      const task = (await env.tasks.get(tenant, taskId))!;
      const winner = claims.find((c) => c.taskId === taskId)!;
      expect(task).toMatchObject({ status: 'succeeded', attempts: 1, result: { by: winner.agent } });
      expect(telemetry.byTask.get(taskId)).toEqual(['succeeded']);
    }
    expect(await env.tasks.get('pull-other', foreign)).toMatchObject({ status: 'queued', attempts: 0 });
    // The index rows left with the claims: nothing claimable remains for the tenant.
    expect(await env.tasks.listClaimable({ tenantId: tenant, capabilities: ['translate'], now: new Date(), limit: 10 })).toEqual([]);
  });

  it('the worker acks a pulled task\'s message and leaves it claimable', async () => {
    const d = deps(systemClock, new TerminalEvents());
    const { taskId } = await submitTask(d, principal('pull-worker'), { capability: 'translate', input: 1, priority: 'high' });
    const outcome = await processTask(d, { tenantId: 'pull-worker', taskId, priority: 'high' }, { maxAttempts: 3, leaseMs: 10_000 });
    expect(outcome).toEqual({ kind: 'done' });
    expect(await claimTask(d, principal('pull-worker', ['agent']), { capabilities: ['translate'] })).toMatchObject({ taskId, attempt: 1 });
  });

  it('a silent agent\'s expired lease: the task is reassigned with attempt + 1; a heartbeat keeps it, a late one is refused', async () => {
    const clock = new ManualClock(new Date());
    const telemetry = new TerminalEvents();
    const d = deps(clock, telemetry, 10_000);
    const tenant = 'pull-expiry';
    const agent = principal(tenant, ['agent']);
    const { taskId } = await submitTask(d, principal(tenant), { capability: 'translate', input: 'x' });
    const silent = await claimTask(d, agent, { capabilities: ['translate'] });
    if ('task' in silent) throw new Error('nothing claimed');

    clock.advance(9_000);
    await heartbeatTask(d, agent, { taskId, leaseId: silent.leaseId });
    clock.advance(9_000); // held: renewed 9 s ago
    expect(await claimTask(d, agent, { capabilities: ['translate'] })).toEqual({ task: null });

    clock.advance(1_001); // expired
    await expect(heartbeatTask(d, agent, { taskId, leaseId: silent.leaseId })).rejects.toThrow(`your lease on task ${taskId} is no longer valid`);
    const next = await claimTask(d, agent, { capabilities: ['translate'] });
    expect(next).toMatchObject({ taskId, attempt: 2 });
    if ('task' in next) throw new Error('nothing claimed');
    await expect(completeTask(d, agent, { taskId, leaseId: silent.leaseId, output: 'late' })).rejects.toThrow(/no longer valid/);
    await completeTask(d, agent, { taskId, leaseId: next.leaseId, output: 'done' });
    expect(await env.tasks.get(tenant, taskId)).toMatchObject({ status: 'succeeded', result: 'done', attempts: 2 });
    expect(telemetry.byTask.get(taskId)).toEqual(['succeeded']);
  });
});
