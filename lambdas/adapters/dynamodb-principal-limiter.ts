import { type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { quotaKeys, TASKS_TABLE, TASKS_TABLE_TTL_ATTRIBUTE, type PrincipalLimits } from '../contracts';
import type { PrincipalDecision, PrincipalLimiter } from '../domain/ports';
import type { Principal } from '../domain/principal';
import { limitOf, toolCallRate } from '../domain/principal-limits';
import { gcra, type RateLimits } from '../domain/rate-limit';
import { updateIf } from './dynamodb-update-if';

/** Rounds of "busy bucket, then idle bucket" tried before answering "retry in 1 s". */
export const GCRA_MAX_ROUNDS = 4;
/** An idle principal's bucket is deleted by time to live this long after its last admitted call. */
export const BUCKET_IDLE_TTL_SECONDS = 86_400;

export type GcraDecision = { admitted: true } | { admitted: false; retryAfterSeconds: number };

/**
 * Takes one request from the GCRA bucket (domain/rate-limit.ts) kept as `tat` on the item at `Key`,
 * in one conditional UpdateItem with no read first, so concurrent callers on any number of
 * instances never admit more than burst + rate × elapsed:
 *  - busy bucket (now < tat ≤ admitUntil): tat += interval;
 *  - idle bucket (no item, or tat ≤ now): tat = now + interval.
 * When neither holds, a consistent read says when to retry, or that the item only changed between
 * the two tries (try again, bounded). `set` adds attributes to each admitting write.
 */
export const takeGcraToken = async (
  doc: DynamoDBDocumentClient,
  tableName: string,
  Key: Record<string, string>,
  limits: RateLimits,
  now: Date,
  set: Record<string, number> = {},
): Promise<GcraDecision> => {
  const rate = gcra(limits, now.getTime());
  const extra = Object.keys(set).map((name, i) => `, #x${i} = :x${i}`).join('');
  const names = Object.fromEntries(Object.keys(set).map((name, i) => [`#x${i}`, name]));
  const values = Object.fromEntries(Object.values(set).map((value, i) => [`:x${i}`, value]));
  for (let round = 0; round < GCRA_MAX_ROUNDS; round++) {
    if (
      (await updateIf(doc, {
        TableName: tableName, Key,
        UpdateExpression: `SET tat = tat + :interval${extra}`,
        ConditionExpression: 'tat > :now AND tat <= :admitUntil',
        ...(extra ? { ExpressionAttributeNames: names } : {}),
        ExpressionAttributeValues: { ':interval': rate.interval, ':now': now.getTime(), ':admitUntil': rate.admitUntil, ...values },
      })) ||
      (await updateIf(doc, {
        TableName: tableName, Key,
        UpdateExpression: `SET tat = :next${extra}`,
        ConditionExpression: 'attribute_not_exists(#pk) OR tat <= :now',
        ExpressionAttributeNames: { '#pk': TASKS_TABLE.partitionKey, ...names },
        ExpressionAttributeValues: { ':next': rate.idleNext, ':now': now.getTime(), ...values },
      }))
    ) {
      return { admitted: true };
    }
    const { Item } = await doc.send(new GetCommand({ TableName: tableName, Key, ConsistentRead: true }));
    const tat = Number(Item?.tat);
    if (Number.isFinite(tat) && tat > rate.admitUntil) return { admitted: false, retryAfterSeconds: rate.retryAfterSeconds(tat) };
  }
  return { admitted: false, retryAfterSeconds: 1 };
};

/**
 * Tool calls per minute per principal, across every gateway instance: one GCRA bucket per subject
 * of a tenant in the tenant's quota partition (pk QUOTA#<tenant>, sk PRINCIPAL#<subject>), at the
 * most generous limit of the principal's roles (limitOf). Idle buckets expire by time to live.
 */
export class DynamoDbPrincipalLimiter implements PrincipalLimiter {
  private readonly doc: DynamoDBDocumentClient;

  constructor(client: DynamoDBClient, private readonly tableName: string, private readonly limits: PrincipalLimits) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  async admit(principal: Principal, now: Date): Promise<PrincipalDecision> {
    const { toolCallsPerMinute } = limitOf(principal, this.limits);
    const Key = { [TASKS_TABLE.partitionKey]: quotaKeys.tenant(principal.tenantId), [TASKS_TABLE.sortKey]: quotaKeys.principal(principal.subject) };
    const decision = await takeGcraToken(this.doc, this.tableName, Key, toolCallRate({ toolCallsPerMinute }), now, {
      [TASKS_TABLE_TTL_ATTRIBUTE]: Math.floor(now.getTime() / 1000) + BUCKET_IDLE_TTL_SECONDS,
    });
    return decision.admitted ? decision : { ...decision, toolCallsPerMinute };
  }
}
