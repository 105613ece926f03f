import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { TASKS_TABLE, stepKeys } from '../contracts/tasks-table';
import { ConcurrencyError } from '../domain/errors';
import { TaskErrorSchema } from '../domain/task';
import type { StepRecord, StepStore } from '../domain/workflow-ports';

type Item = Record<string, unknown>;

/** A step item's attributes besides the keys; the output is kept as JSON text (`outputJson`) so any JSON survives. */
const StepItemSchema = z
  .object({
    tenantId: z.string(),
    runId: z.string(),
    stepId: z.string(),
    kind: z.enum(['agent', 'approval']),
    status: z.enum(['running', 'succeeded', 'failed', 'waiting_approval']),
    attempts: z.number().int().nonnegative(),
    capability: z.string().optional(),
    outputJson: z.string().optional(),
    error: TaskErrorSchema.optional(),
    approval: z
      .object({ roles: z.array(z.string()), prompt: z.string().optional(), level: z.number().int(), deadline: z.string() })
      .strict()
      .optional(),
    version: z.number().int().nonnegative(),
    startedAt: z.string(),
    updatedAt: z.string(),
    finishedAt: z.string().optional(),
  })
  .strict();

/**
 * Step records in the tasks table, beside their run's task item (`stepKeys`): one item per step,
 * no index attributes (so no index writes, and no task listing ever meets a step), every save
 * conditional on the version read.
 */
export class DynamoDbStepStore implements StepStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(client: DynamoDBClient, private readonly tableName: string) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async get(tenantId: string, runId: string, stepId: string): Promise<StepRecord | undefined> {
    const { Item } = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keyOf(tenantId, runId, stepId), ConsistentRead: true }));
    return Item ? fromItem(Item) : undefined;
  }

  async list(tenantId: string, runId: string): Promise<StepRecord[]> {
    const records: StepRecord[] = [];
    let ExclusiveStartKey: Item | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
          ExpressionAttributeNames: { '#pk': TASKS_TABLE.partitionKey, '#sk': TASKS_TABLE.sortKey },
          ExpressionAttributeValues: { ':pk': stepKeys.tenant(tenantId), ':prefix': stepKeys.run(runId) },
          ConsistentRead: true,
          ...(ExclusiveStartKey ? { ExclusiveStartKey } : {}),
        }),
      );
      records.push(...(page.Items ?? []).map(fromItem));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return records.sort((a, b) => compare(a.startedAt, b.startedAt) || compare(a.stepId, b.stepId));
  }

  async save(record: StepRecord): Promise<StepRecord> {
    const first = record.version === 0;
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: toItem(record),
          ConditionExpression: first ? 'attribute_not_exists(#pk)' : '#version = :previous',
          ExpressionAttributeNames: first ? { '#pk': TASKS_TABLE.partitionKey } : { '#version': 'version' },
          ...(first ? {} : { ExpressionAttributeValues: { ':previous': record.version - 1 } }),
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new ConcurrencyError(`step ${record.stepId} of run ${record.runId} changed since version ${record.version - 1}`);
      }
      throw error;
    }
    return fromItem(toItem(record));
  }
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const keyOf = (tenantId: string, runId: string, stepId: string): Item => ({
  [TASKS_TABLE.partitionKey]: stepKeys.tenant(tenantId),
  [TASKS_TABLE.sortKey]: stepKeys.step(runId, stepId),
});

const toItem = (record: StepRecord): Item => {
  const { output, ...rest } = record;
  return {
    ...rest,
    ...keyOf(record.tenantId, record.runId, record.stepId),
    ...(output !== undefined ? { outputJson: JSON.stringify(output) } : {}),
  };
};

const fromItem = (item: Item): StepRecord => {
  const { [TASKS_TABLE.partitionKey]: _pk, [TASKS_TABLE.sortKey]: _sk, ...attributes } = item;
  const { outputJson, ...record } = StepItemSchema.parse(attributes);
  return { ...dropUndefined(record), ...(outputJson !== undefined ? { output: JSON.parse(outputJson) as unknown } : {}) };
};

/** Optional attributes absent, not undefined (exactOptionalPropertyTypes-safe). */
const dropUndefined = <T extends object>(value: T): T =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
