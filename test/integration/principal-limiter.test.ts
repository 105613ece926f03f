import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUCKET_IDLE_TTL_SECONDS, DynamoDbPrincipalLimiter } from '../../lambdas/adapters/dynamodb-principal-limiter';
import { ENV, quotaKeys, TASKS_TABLE, TASKS_TABLE_TTL_ATTRIBUTE, type PrincipalLimits } from '../../lambdas/contracts';
import { RateLimitedError } from '../../lambdas/domain/errors';
import type { Principal } from '../../lambdas/domain/principal';
import { admitToolCall } from '../../lambdas/domain/principal-limits';
import { startEmulatedPlatform, type EmulatedPlatform } from '../../bin/harness/emulated-platform';

/** Two gateway instances (own SDK clients and limiters) on one dynalite share each principal's tool-call bucket. */

let env: EmulatedPlatform;
beforeAll(async () => {
  env = await startEmulatedPlatform();
});
afterAll(() => env?.stop());

const LIMITS: PrincipalLimits = {
  default: { toolCallsPerMinute: 12, maxRequestBytes: 65_536 },
  byRole: { agent: { toolCallsPerMinute: 30, maxRequestBytes: 65_536 } },
};
const instance = () => ({ limiter: new DynamoDbPrincipalLimiter(new DynamoDBClient(env.emulators.aws.dynamodb!), env.gatewayEnv[ENV.tasksTable]!, LIMITS) });
const who = (tenantId: string, subject: string, roles: Principal['roles'] = ['submitter']): Principal => ({ tenantId, subject, roles });

const burst = async (principal: Principal, calls: number, now: Date) => {
  const [a, b] = [instance(), instance()];
  const results = await Promise.allSettled(Array.from({ length: calls }, (_, i) => admitToolCall(i % 2 ? a : b, principal, now)));
  return {
    admitted: results.filter((r) => r.status === 'fulfilled').length,
    refused: results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : [])),
  };
};

describe('per-principal tool calls per minute across instances', () => {
  it('a burst of 40 concurrent calls from two instances admits exactly 12; the rest get RATE_LIMITED with retryAfterSeconds', async () => {
    const now = new Date('2026-11-26T10:00:00Z');
    const { admitted, refused } = await burst(who('limits-a', 'bob'), 40, now);
    expect(admitted).toBe(12);
    expect(refused).toHaveLength(28);
    for (const error of refused) {
      expect(error).toBeInstanceOf(RateLimitedError);
      expect(error).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 5, message: 'you are over 12 tool calls per minute; retry after 5 s' });
    }
    // One call every 5 s refills: the retry time given is when the next call is admitted.
    const [a] = [instance()];
    await expect(admitToolCall(a, who('limits-a', 'bob'), new Date(now.getTime() + 4_999))).rejects.toBeInstanceOf(RateLimitedError);
    await expect(admitToolCall(a, who('limits-a', 'bob'), new Date(now.getTime() + 5_000))).resolves.toBeUndefined();
  });

  it('each subject of a tenant has its own bucket, at the most generous limit of its roles', async () => {
    const now = new Date('2026-11-26T11:00:00Z');
    expect((await burst(who('limits-b', 'carol'), 20, now)).admitted).toBe(12);
    expect((await burst(who('limits-b', 'dave'), 20, now)).admitted).toBe(12);
    expect((await burst(who('limits-c', 'carol'), 20, now)).admitted).toBe(12);
    expect((await burst(who('limits-b', 'robot', ['viewer', 'agent']), 40, now)).admitted).toBe(30);
  });

  it('keeps the bucket in the tenant\'s quota partition, with a TTL a day after the last admitted call', async () => {
    const now = new Date('2026-11-26T12:00:00Z');
    await admitToolCall(instance(), who('limits-d', 'erin#1'), now);
    const { Item } = await DynamoDBDocumentClient.from(env.dynamodb).send(
      new GetCommand({
        TableName: env.gatewayEnv[ENV.tasksTable]!,
        Key: { [TASKS_TABLE.partitionKey]: quotaKeys.tenant('limits-d'), [TASKS_TABLE.sortKey]: quotaKeys.principal('erin#1') },
        ConsistentRead: true,
      }),
    );
    expect(Item).toMatchObject({ tat: now.getTime() + 5_000, [TASKS_TABLE_TTL_ATTRIBUTE]: now.getTime() / 1000 + BUCKET_IDLE_TTL_SECONDS });
  });
});
