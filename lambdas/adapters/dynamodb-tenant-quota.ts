import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { QuotaDecision, TenantQuota } from '../domain/ports';
import { gcra } from '../domain/rate-limit';
import { quotaKeys, TASKS_TABLE, tierOf, type QuotaSettings } from '../contracts';

/** Rounds of "busy bucket, then idle bucket" tried before answering "retry in 1 s". */
export const QUOTA_MAX_ROUNDS = 4;

/**
 * One rate-limit item per tenant in the tasks table (pk QUOTA#<tenant>, sk BUCKET#submit) holding
 * the GCRA `tat` (domain/rate-limit.ts). Admitting is one conditional UpdateItem, with no read
 * first: concurrent admits from any number of gateway instances each move `tat` on atomically,
 * so they never conflict and together admit at most burst + rate × elapsed.
 *  - busy bucket (now < tat ≤ admitUntil): tat += interval;
 *  - idle bucket (no item, or tat ≤ now): tat = now + interval.
 * When neither condition holds, a consistent read of `tat` says whether the bucket is over its
 * limit (answer retryAfterSeconds) or only changed between the two tries (try again, bounded).
 */
export class DynamoDbTenantQuota implements TenantQuota {
  private readonly doc: DynamoDBDocumentClient;

  constructor(client: DynamoDBClient, private readonly tableName: string, private readonly settings: QuotaSettings) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  async admitSubmit(tenantId: string, now: Date): Promise<QuotaDecision> {
    const { limits } = tierOf(this.settings, tenantId);
    const rate = gcra({ ratePerSecond: limits.submitsPerSecond, burst: limits.burst }, now.getTime());
    const Key = { [TASKS_TABLE.partitionKey]: quotaKeys.tenant(tenantId), [TASKS_TABLE.sortKey]: quotaKeys.bucket('submit') };
    for (let round = 0; round < QUOTA_MAX_ROUNDS; round++) {
      if (
        (await this.tryUpdate({
          TableName: this.tableName, Key,
          UpdateExpression: 'SET tat = tat + :interval',
          ConditionExpression: 'tat > :now AND tat <= :admitUntil',
          ExpressionAttributeValues: { ':interval': rate.interval, ':now': now.getTime(), ':admitUntil': rate.admitUntil },
        })) ||
        (await this.tryUpdate({
          TableName: this.tableName, Key,
          UpdateExpression: 'SET tat = :next',
          ConditionExpression: `attribute_not_exists(${TASKS_TABLE.partitionKey}) OR tat <= :now`,
          ExpressionAttributeValues: { ':next': rate.idleNext, ':now': now.getTime() },
        }))
      ) {
        return { admitted: true };
      }
      const { Item } = await this.doc.send(new GetCommand({ TableName: this.tableName, Key, ConsistentRead: true }));
      const tat = Number(Item?.tat);
      if (Number.isFinite(tat) && tat > rate.admitUntil) return { admitted: false, retryAfterSeconds: rate.retryAfterSeconds(tat) };
    }
    return { admitted: false, retryAfterSeconds: 1 };
  }

  private async tryUpdate(command: ConstructorParameters<typeof UpdateCommand>[0]): Promise<boolean> {
    try {
      await this.doc.send(new UpdateCommand(command));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
