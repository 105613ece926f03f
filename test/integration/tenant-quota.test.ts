import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { DynamoDbTaskRepository } from '../../lambdas/adapters/dynamodb-task-repository';
import { DynamoDbTenantQuota } from '../../lambdas/adapters/dynamodb-tenant-quota';
import { ENV, type QuotaSettings } from '../../lambdas/contracts';
import { QuotaExceededError } from '../../lambdas/domain/errors';
import { systemClock } from '../../lambdas/domain/ports';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { cancelTask } from '../../lambdas/domain/use-cases/cancel-task';
import { RECOUNT_QUIET_MS } from '../../lambdas/adapters/dynamodb-tenant-quota';
import { principal, silentLogger } from '../../bin/harness/in-memory';
import { startEmulatedPlatform, type EmulatedPlatform } from '../../bin/harness/emulated-platform';

/** Two gateway instances (own SDK clients, repositories and quotas) on one dynalite share one tenant's bucket. */

let env: EmulatedPlatform;
beforeAll(async () => {
  env = await startEmulatedPlatform();
});
afterAll(() => env?.stop());

const SETTINGS: QuotaSettings = {
  defaultTier: 'standard',
  tiers: {
    standard: { submitsPerSecond: 5, burst: 10 },
    premium: { submitsPerSecond: 50, burst: 100 },
    slow: { submitsPerSecond: 0.1, burst: 5 },
    capped: { submitsPerSecond: 1000, burst: 1000, maxInFlight: 5 },
  },
  tenants: { 'quota-premium': 'premium', 'quota-replay': 'slow', 'inflight-shared': 'capped', 'inflight-leak': 'capped' },
};

const instance = () => {
  const table = env.gatewayEnv[ENV.tasksTable]!;
  const client = new DynamoDBClient(env.emulators.aws.dynamodb!);
  return {
    tasks: new DynamoDbTaskRepository(client, table),
    quota: new DynamoDbTenantQuota(client, table, SETTINGS),
    queue: env.queue,
    agents: new StaticAgentRegistry([echoAgent]),
    clock: systemClock,
    logger: silentLogger,
  };
};

describe('per-tenant quota across instances', () => {
  it('60 concurrent submits from two instances: admitted stays within burst + rate × elapsed, the rest get QUOTA_EXCEEDED with retryAfterSeconds', async () => {
    const [a, b] = [instance(), instance()];
    const started = Date.now();
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) => submitTask(i % 2 ? a : b, principal('quota-shared'), { capability: 'echo', input: i })),
    );
    const elapsedSeconds = (Date.now() - started) / 1000;
    const admitted = results.filter((r) => r.status === 'fulfilled').length;
    const rejected = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    expect(admitted).toBeGreaterThanOrEqual(10);
    expect(admitted).toBeLessThanOrEqual(10 + Math.floor(5 * elapsedSeconds));
    expect(rejected.length).toBe(60 - admitted);
    for (const error of rejected) {
      expect(error).toBeInstanceOf(QuotaExceededError);
      expect(error).toMatchObject({ code: 'QUOTA_EXCEEDED', retryAfterSeconds: expect.any(Number) });
      expect((error as QuotaExceededError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    }
    const stored = await a.tasks.list('quota-shared', { limit: 100 });
    expect(stored.tasks).toHaveLength(admitted);
  });

  it('a replay of an admitted idempotency key succeeds while the bucket is empty; a new key does not', async () => {
    const [a, b] = [instance(), instance()];
    const who = principal('quota-replay');
    const first = await submitTask(a, who, { capability: 'echo', input: 0, idempotencyKey: 'k-0' });
    await Promise.allSettled(Array.from({ length: 20 }, (_, i) => submitTask(a, who, { capability: 'echo', input: i + 1 })));
    // The replayed key's task was admitted before the flood; its replay is answered from the table.
    const refused = submitTask(b, who, { capability: 'echo', input: 99, idempotencyKey: 'k-new' });
    await expect(refused).rejects.toBeInstanceOf(QuotaExceededError);
    // One token every 10 s, and the bucket was drained just now.
    await expect(refused).rejects.toMatchObject({ retryAfterSeconds: 10, message: expect.stringContaining('retry after 10 s') });
    await expect(submitTask(b, who, { capability: 'echo', input: 0, idempotencyKey: 'k-0' })).resolves.toMatchObject({ taskId: first.taskId });
  });

  it('tenants have their own buckets, by tier', async () => {
    const a = instance();
    const submitAll = (tenant: string) =>
      Promise.allSettled(Array.from({ length: 30 }, (_, i) => submitTask(a, principal(tenant), { capability: 'echo', input: i })));
    const premium = (await submitAll('quota-premium')).filter((r) => r.status === 'fulfilled').length;
    const standard = (await submitAll('quota-other')).filter((r) => r.status === 'fulfilled').length;
    expect(premium).toBe(30);
    expect(standard).toBeGreaterThanOrEqual(10);
    expect(standard).toBeLessThan(30);
  });

  it('tasks in flight: 30 concurrent submits from two instances admit exactly maxInFlight (5); a finished task gives its slot back', async () => {
    const [a, b] = [instance(), instance()];
    const who = principal('inflight-shared');
    const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => submitTask(i % 2 ? a : b, who, { capability: 'echo', input: i })));
    const admitted = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(admitted).toHaveLength(5);
    for (const r of results) {
      if (r.status === 'rejected') {
        expect(r.reason).toBeInstanceOf(QuotaExceededError);
        expect(r.reason).toMatchObject({ retryAfterSeconds: 2, message: 'your tenant has 5 tasks in flight, its most; retry after 2 s' });
      }
    }
    await expect(submitTask(a, who, { capability: 'echo', input: 'sixth' })).rejects.toBeInstanceOf(QuotaExceededError);
    // A replay of an admitted key is answered whatever the count (it creates nothing).
    await cancelTask(b, who, { taskId: admitted[0]!.taskId });
    await cancelTask(b, who, { taskId: admitted[0]!.taskId }); // cancelling again gives back nothing more
    await expect(submitTask(a, who, { capability: 'echo', input: 'sixth', idempotencyKey: 'six' })).resolves.toMatchObject({ status: 'queued' });
    await expect(submitTask(b, who, { capability: 'echo', input: 'seventh' })).rejects.toBeInstanceOf(QuotaExceededError);
    await expect(submitTask(b, who, { capability: 'echo', input: 'sixth', idempotencyKey: 'six' })).resolves.toMatchObject({ status: 'queued' });
    const stored = await a.tasks.list('inflight-shared', { limit: 100 });
    expect(stored.tasks).toHaveLength(6);
  });

  it('slots lost to a crash (counter high, tasks finished) are recounted once the tenant has been refused for a quiet spell', async () => {
    const a = instance();
    const who = principal('inflight-leak');
    const live = await Promise.all(Array.from({ length: 2 }, (_, i) => submitTask(a, who, { capability: 'echo', input: i })));
    // Three slots taken and never given back: what a process dying right after a terminal write leaves.
    for (let i = 0; i < 3; i++) await a.quota.occupyInFlight('inflight-leak');
    await expect(submitTask(a, who, { capability: 'echo', input: 'x' })).rejects.toBeInstanceOf(QuotaExceededError);
    const later = { now: () => new Date(Date.now() + RECOUNT_QUIET_MS + 1000) };
    // Recounted: 2 live tasks, so 3 more fit, then the limit holds again.
    const after = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => submitTask({ ...a, clock: later }, who, { capability: 'echo', input: `y${i}` })));
    expect(after.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    await cancelTask(a, who, { taskId: live[0]!.taskId });
    await expect(submitTask({ ...a, clock: later }, who, { capability: 'echo', input: 'z' })).resolves.toMatchObject({ status: 'queued' });
  });
});
