import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbAgentStateStore } from '../../lambdas/adapters/dynamodb-agent-state-store';
import { ENV } from '../../lambdas/contracts';
import { NoAgentAvailableError, ROUTING, routedAgent } from '../../lambdas/domain/agent-routing';
import type { Agent } from '../../lambdas/domain/ports';
import { startEmulatedPlatform, type EmulatedPlatform } from '../../bin/harness/emulated-platform';
import { ManualClock, silentLogger } from '../../bin/harness/in-memory';

/** Routing on the DynamoDB emulator: score-based shares, leases under concurrency, failover, the breaker. */
let env: EmulatedPlatform;
beforeAll(async () => {
  env = await startEmulatedPlatform();
});
afterAll(() => env?.stop());

const store = () => new DynamoDbAgentStateStore(new DynamoDBClient(env.emulators.aws.dynamodb!), env.gatewayEnv[ENV.tasksTable]!);
const register = (s: DynamoDbAgentStateStore, agentId: string, capability: string, maxConcurrency = 10) =>
  s.register({ agentId, kind: 'builtin', capabilities: [capability], maxConcurrency, weight: 1 }, new Date());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const counting = (capability: string, behaviour: () => Promise<unknown>) => {
  const seen = { calls: 0, now: 0, most: 0 };
  const agent: Agent = {
    capability,
    description: capability,
    run: async () => {
      seen.calls += 1;
      seen.now += 1;
      seen.most = Math.max(seen.most, seen.now);
      try {
        return await behaviour();
      } finally {
        seen.now -= 1;
      }
    },
  };
  return { agent, seen };
};
const context = { tenantId: 't', taskId: 'tsk_x', attempt: 1 };

describe('agent routing on the emulator', () => {
  it('spreads calls by score: the faster of two agents takes the larger share; no agent exceeds its concurrency', async () => {
    const s = store();
    await register(s, 'fast', 'route.a', 4);
    await register(s, 'slow', 'route.a', 4);
    const fast = counting('route.a', () => sleep(5).then(() => 'fast'));
    const slow = counting('route.a', () => sleep(60).then(() => 'slow'));
    const routed = routedAgent({ agentStates: s, clock: new ManualClock(new Date()), logger: silentLogger }, 'route.a', new Map([['fast', fast.agent], ['slow', slow.agent]]), 'a');
    let refused = 0;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let i = 0; i < 15; i++) {
          await routed.run({}, context).catch((error: unknown) => {
            if (!(error instanceof NoAgentAvailableError)) throw error;
            refused += 1;
          });
        }
      }),
    );
    const share = fast.seen.calls / (fast.seen.calls + slow.seen.calls);
    console.log(`routing shares: fast ${fast.seen.calls}, slow ${slow.seen.calls} (${(share * 100).toFixed(0)}% fast), refused ${refused} (both at their limit)`);
    expect(share).toBeGreaterThan(0.6);
    expect(fast.seen.most).toBeLessThanOrEqual(4);
    expect(slow.seen.most).toBeLessThanOrEqual(4);
    expect((await s.get('fast'))!.inFlight).toBe(0);
    expect((await s.get('slow'))!.inFlight).toBe(0);
  }, 30_000);

  it('a failing agent: its breaker opens, calls fail over to another agent; after the cooldown one probe half-opens it, its success closes it', async () => {
    const s = store();
    await register(s, 'bad', 'route.b');
    let badFails = true;
    const bad = counting('route.b', async () => {
      if (badFails) throw new Error('downstream down');
      return 'bad ok';
    });
    const good = counting('route.b', async () => 'good');
    const clock = new ManualClock(new Date());
    const deps = { agentStates: s, clock, logger: silentLogger };
    const executors = new Map([['bad', bad.agent], ['good', good.agent]]);
    const routed = routedAgent(deps, 'route.b', executors, 'b');
    for (let i = 0; i < ROUTING.failuresToOpen; i++) await expect(routed.run({}, context)).rejects.toThrow('downstream down');
    expect(await s.get('bad')).toMatchObject({ circuit: 'open', consecutiveFailures: ROUTING.failuresToOpen });

    // A second agent of the capability: every call fails over to it while the breaker is open.
    await register(s, 'good', 'route.b');
    for (let i = 0; i < 5; i++) expect(await routed.run({}, context)).toBe('good');
    expect(bad.seen.calls).toBe(ROUTING.failuresToOpen);

    // Cooldown over: exactly one probe goes to "bad"; it fails: open again, the others go to "good".
    clock.advance(ROUTING.cooldownMs + 1);
    const outcomes = await Promise.all(Array.from({ length: 4 }, () => routed.run({}, context).then(String, () => 'failed')));
    expect(bad.seen.calls).toBe(ROUTING.failuresToOpen + 1);
    expect(outcomes.filter((o) => o === 'failed')).toHaveLength(1);
    expect((await s.get('bad'))!.circuit).toBe('open');

    // Next cooldown, the agent recovered: the probe succeeds, the breaker closes, "bad" gets calls again.
    clock.advance(ROUTING.cooldownMs + 1);
    badFails = false;
    expect(await routed.run({}, context)).toBe('bad ok');
    expect(await s.get('bad')).toMatchObject({ circuit: 'closed', successRate: 1 });
    const before = bad.seen.calls;
    for (let i = 0; i < 10; i++) await routed.run({}, context);
    expect(bad.seen.calls).toBeGreaterThan(before);
  }, 30_000);

  it('every agent of a capability open: a clear error, nothing run', async () => {
    const s = store();
    await register(s, 'only', 'route.c');
    const only = counting('route.c', async () => {
      throw new Error('down');
    });
    const routed = routedAgent({ agentStates: s, clock: new ManualClock(new Date()), logger: silentLogger }, 'route.c', new Map([['only', only.agent]]), 'c');
    for (let i = 0; i < ROUTING.failuresToOpen; i++) await expect(routed.run({}, context)).rejects.toThrow('down');
    await expect(routed.run({}, context)).rejects.toThrow(/every agent of "route.c" is busy or its circuit is open/);
    expect(only.seen.calls).toBe(ROUTING.failuresToOpen);
  });
});
