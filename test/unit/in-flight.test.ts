import { describe, expect, it } from 'vitest';
import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import type { Agent } from '../../lambdas/domain/ports';
import { QuotaExceededError } from '../../lambdas/domain/errors';
import { cancelTask } from '../../lambdas/domain/use-cases/cancel-task';
import { failDeadLettered } from '../../lambdas/domain/use-cases/fail-dead-lettered';
import { processTask } from '../../lambdas/domain/use-cases/process-task';
import { redriveDeadLetters } from '../../lambdas/domain/use-cases/redrive-dead-letters';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { InFlightQuota, InMemoryTaskRepository, ManualClock, principal, RecordingQueue, silentLogger } from '../../bin/harness/in-memory';

/** Every way a task ends gives its tenant's in-flight slot back exactly once; a redrive takes one again. */

const options = { maxAttempts: 2, leaseMs: 30_000 };
const failing: Agent = { capability: 'failing', description: 'always fails', run: async () => { throw new Error('boom'); } };

const setup = (max = 4) => {
  const quota = new InFlightQuota(max);
  const deps = {
    tasks: new InMemoryTaskRepository(),
    queue: new RecordingQueue(),
    agents: new StaticAgentRegistry([echoAgent, failing]),
    clock: new ManualClock(),
    logger: silentLogger,
    quota,
  };
  const submit = async (capability = 'echo') => {
    const view = await submitTask(deps, principal(), { capability, input: 1 });
    return deps.queue.sent.find((s) => s.message.taskId === view.taskId)!.message;
  };
  return { deps, quota, submit };
};

describe('in-flight slots', () => {
  it('succeeded, failed, cancelled and dead-lettered each give one slot back; duplicates give none', async () => {
    const { deps, quota, submit } = setup(4);
    const ok = await submit();
    const bad = await submit('failing');
    const queued = await submit();
    const dead = await submit();
    await expect(submit()).rejects.toBeInstanceOf(QuotaExceededError);
    expect(quota.inFlight.get('acme')).toBe(4);

    await processTask(deps, ok, options);
    await processTask(deps, ok, options); // a duplicate delivery of a finished task
    for (let i = 0; i < options.maxAttempts; i++) await processTask(deps, bad, options);
    await cancelTask(deps, principal(), { taskId: queued.taskId });
    await cancelTask(deps, principal(), { taskId: queued.taskId });
    await failDeadLettered(deps, dead, 9);
    await failDeadLettered(deps, dead, 9);

    expect((await deps.tasks.get('acme', ok.taskId))?.status).toBe('succeeded');
    expect((await deps.tasks.get('acme', bad.taskId))?.status).toBe('failed');
    expect((await deps.tasks.get('acme', dead.taskId))?.error?.code).toBe('DEAD_LETTERED');
    expect(quota.releases).toBe(4);
    expect(quota.inFlight.get('acme')).toBe(0);

    // An operator's redrive makes the task live again: it takes a slot, whatever the limit.
    const { redriven } = await redriveDeadLetters(deps, principal('acme', ['admin']), { priority: 'normal' });
    expect(redriven).toEqual([{ tenantId: 'acme', taskId: dead.taskId }]);
    expect((await deps.tasks.get('acme', dead.taskId))?.status).toBe('queued');
    expect(quota.inFlight.get('acme')).toBe(1);
  });

  it('a submit that loses the race for its idempotency key gives its slot back', async () => {
    const { deps, quota } = setup(4);
    await Promise.all(Array.from({ length: 3 }, () => submitTask(deps, principal(), { capability: 'echo', input: 1, idempotencyKey: 'same' })));
    expect(deps.tasks.items.size).toBe(1);
    expect(quota.inFlight.get('acme')).toBe(1);
  });
});
