import { type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { updateIf } from './dynamodb-update-if';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { QuotaDecision, TenantQuota } from '../domain/ports';
import { gcra } from '../domain/rate-limit';
import { LIVE_STATUSES } from '../domain/task';
import { quotaKeys, TASKS_TABLE, taskKeys, tierOf, type QuotaSettings } from '../contracts';

/** Rounds of "busy bucket, then idle bucket" tried before answering "retry in 1 s". */
export const QUOTA_MAX_ROUNDS = 4;
/** What a submit refused for tasks in flight is told: slots come back as tasks finish, which nobody can date. */
export const IN_FLIGHT_RETRY_SECONDS = 2;
/** A refused tenant's counter is recounted from its tasks only when no submit was admitted for this long… */
export const RECOUNT_QUIET_MS = 10_000;
/** …and at most this often. */
export const RECOUNT_EVERY_MS = 30_000;

/**
 * One item per tenant in the tasks table (pk QUOTA#<tenant>, sk BUCKET#submit) holding
 *  - `tat`, the GCRA token bucket of its submit rate (domain/rate-limit.ts), and
 *  - `inFlight`, how many of its tasks are acknowledged and not terminal, with `lastAdmitAt`.
 *
 * Admitting is one conditional UpdateItem, with no read first: concurrent admits from any number
 * of gateway instances each move `tat` on and add one to `inFlight` atomically, so they never
 * conflict and together admit at most burst + rate × elapsed, and never past `maxInFlight`.
 *  - busy bucket (now < tat ≤ admitUntil): tat += interval;
 *  - idle bucket (no item, or tat ≤ now): tat = now + interval.
 * When neither condition holds, a consistent read says which limit is reached (answer
 * retryAfterSeconds) or that the item only changed between the two tries (try again, bounded).
 *
 * A terminal transition gives its slot back (`releaseInFlight`, one UpdateItem, floored at 0).
 * A slot is lost only when a process dies between the task's terminal write and that update, or
 * between an admit and the task's creation: the counter then reads high, never low, and the tenant
 * is under-admitted. So a refusal for tasks in flight recounts the tenant's queued and running
 * tasks (Select COUNT on the byStatus index) when no submit was admitted for RECOUNT_QUIET_MS
 * (every admitted task is then written and indexed) and none was recounted for RECOUNT_EVERY_MS,
 * and stores the count only if no admit or release happened meanwhile (a conditional write).
 */
export class DynamoDbTenantQuota implements TenantQuota {
  private readonly doc: DynamoDBDocumentClient;

  constructor(client: DynamoDBClient, private readonly tableName: string, private readonly settings: QuotaSettings) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  private key(tenantId: string) {
    return { [TASKS_TABLE.partitionKey]: quotaKeys.tenant(tenantId), [TASKS_TABLE.sortKey]: quotaKeys.bucket('submit') };
  }

  async admitSubmit(tenantId: string, now: Date): Promise<QuotaDecision> {
    const { limits } = tierOf(this.settings, tenantId);
    const rate = gcra({ ratePerSecond: limits.submitsPerSecond, burst: limits.burst }, now.getTime());
    const Key = this.key(tenantId);
    const max = limits.maxInFlight;
    const slot = {
      update: ', inFlight = if_not_exists(inFlight, :zero) + :one, lastAdmitAt = :now',
      condition: max === undefined ? '' : ' AND (attribute_not_exists(inFlight) OR inFlight < :max)',
      values: { ':zero': 0, ':one': 1, ...(max === undefined ? {} : { ':max': max }) },
    };
    let recounted = false;
    for (let round = 0; round < QUOTA_MAX_ROUNDS; round++) {
      if (
        (await updateIf(this.doc, {
          TableName: this.tableName, Key,
          UpdateExpression: `SET tat = tat + :interval${slot.update}`,
          ConditionExpression: `tat > :now AND tat <= :admitUntil${slot.condition}`,
          ExpressionAttributeValues: { ':interval': rate.interval, ':now': now.getTime(), ':admitUntil': rate.admitUntil, ...slot.values },
        })) ||
        (await updateIf(this.doc, {
          TableName: this.tableName, Key,
          UpdateExpression: `SET tat = :next${slot.update}`,
          ConditionExpression: `(attribute_not_exists(${TASKS_TABLE.partitionKey}) OR tat <= :now)${slot.condition}`,
          ExpressionAttributeValues: { ':next': rate.idleNext, ':now': now.getTime(), ...slot.values },
        }))
      ) {
        return { admitted: true };
      }
      const { Item } = await this.doc.send(new GetCommand({ TableName: this.tableName, Key, ConsistentRead: true }));
      const inFlight = Number(Item?.inFlight ?? 0);
      if (max !== undefined && inFlight >= max) {
        if (!recounted && (await this.recount(tenantId, Item ?? {}, now))) {
          recounted = true;
          continue;
        }
        return { admitted: false, limit: 'inFlight', maxInFlight: max, retryAfterSeconds: IN_FLIGHT_RETRY_SECONDS };
      }
      const tat = Number(Item?.tat);
      if (Number.isFinite(tat) && tat > rate.admitUntil) return { admitted: false, limit: 'rate', retryAfterSeconds: rate.retryAfterSeconds(tat) };
    }
    return { admitted: false, limit: 'rate', retryAfterSeconds: 1 };
  }

  async releaseInFlight(tenantId: string): Promise<void> {
    await updateIf(this.doc, {
      TableName: this.tableName,
      Key: this.key(tenantId),
      UpdateExpression: 'SET inFlight = inFlight - :one',
      ConditionExpression: 'inFlight > :zero',
      ExpressionAttributeValues: { ':one': 1, ':zero': 0 },
    });
  }

  async occupyInFlight(tenantId: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: this.key(tenantId),
        UpdateExpression: 'SET inFlight = if_not_exists(inFlight, :zero) + :one',
        ExpressionAttributeValues: { ':one': 1, ':zero': 0 },
      }),
    );
  }

  /**
   * Sets the counter to the tenant's live tasks as the index counts them, when that is safe (see
   * the class comment). True when the admit is worth trying again.
   */
  private async recount(tenantId: string, item: Record<string, unknown>, now: Date): Promise<boolean> {
    const lastAdmitAt = Number(item.lastAdmitAt ?? 0);
    const countedAt = Number(item.countedAt ?? 0);
    if (now.getTime() - lastAdmitAt < RECOUNT_QUIET_MS || now.getTime() - countedAt < RECOUNT_EVERY_MS) return false;
    let live = 0;
    for (const status of LIVE_STATUSES) {
      let ExclusiveStartKey: Record<string, unknown> | undefined;
      do {
        const page = await this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: TASKS_TABLE.indexes.byStatus.indexName,
            KeyConditionExpression: '#pk = :pk',
            ExpressionAttributeNames: { '#pk': TASKS_TABLE.indexes.byStatus.partitionKey },
            ExpressionAttributeValues: { ':pk': taskKeys.status(tenantId, status) },
            Select: 'COUNT',
            ExclusiveStartKey,
          }),
        );
        live += page.Count ?? 0;
        ExclusiveStartKey = page.LastEvaluatedKey;
      } while (ExclusiveStartKey);
    }
    const stored = Number(item.inFlight ?? 0);
    const written = await updateIf(this.doc, {
      TableName: this.tableName,
      Key: this.key(tenantId),
      UpdateExpression: 'SET inFlight = :live, countedAt = :now',
      ConditionExpression: 'inFlight = :stored AND (attribute_not_exists(lastAdmitAt) OR lastAdmitAt = :lastAdmitAt)',
      ExpressionAttributeValues: { ':live': live, ':now': now.getTime(), ':stored': stored, ':lastAdmitAt': lastAdmitAt },
    });
    // Not written: an admit, a release or another recount changed the counter meanwhile, so the
    // refusal was read from a stale value: worth one more try as well.
    return !written || live < stored;
  }
}
