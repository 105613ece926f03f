import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { TASKS_TABLE, stepKeys, taskKeys } from '../contracts/tasks-table';
import { EnvelopeOpenError } from '../domain/envelope';
import { ConcurrencyError } from '../domain/errors';
import { openJson, runLevelLookup, SEALED_ATTRIBUTES, SealedStepDataSchema, sealingLevel, sealJson, stepContextTask, type SealedStepData, type TaskSealing } from './sealed-attributes';
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
 *
 * With `sealing`, a step of a run whose level is sensitive (the run's level: its `workflow.<name>`
 * capability's, at least the step capability's own) keeps its output and error sealed, with the
 * context {tenant, task: `<runId>/<stepId>`, classification}; status, attempts and version stay in
 * the clear. Reads open with the tenant, run and step of the key asked for.
 */
export class DynamoDbStepStore implements StepStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly runLevel: ((tenantId: string, runId: string) => Promise<string>) | undefined;

  constructor(client: DynamoDBClient, private readonly tableName: string, private readonly sealing?: TaskSealing) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.runLevel = sealing ? runLevelLookup(sealing, (tenantId, runId) => this.capabilityOfRun(tenantId, runId)) : undefined;
  }

  private async capabilityOfRun(tenantId: string, runId: string): Promise<string | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { [TASKS_TABLE.partitionKey]: taskKeys.tenant(tenantId), [TASKS_TABLE.sortKey]: taskKeys.task(runId) },
        ProjectionExpression: '#c',
        ExpressionAttributeNames: { '#c': 'capability' },
        ConsistentRead: true,
      }),
    );
    return typeof Item?.['capability'] === 'string' ? Item['capability'] : undefined;
  }

  private async toItem(record: StepRecord): Promise<Item> {
    if (!this.sealing || !this.runLevel) return toItem(record);
    const level = sealingLevel(this.sealing, record.capability ?? '', await this.runLevel(record.tenantId, record.runId));
    if (!level) return toItem(record);
    const { outputJson: _output, error: _error, ...clear } = toItem(record);
    const context = { tenant: record.tenantId, task: stepContextTask(record.runId, record.stepId), classification: level };
    return { ...clear, [SEALED_ATTRIBUTES.classification]: level, [SEALED_ATTRIBUTES.sealed]: await sealJson(this.sealing.envelope, sealedDataOf(record), context) };
  }

  /** The record of an item read under the key of `tenantId`, `runId`, `stepId`; `known`: its sealed data as just written. */
  private async fromItem(item: Item, tenantId: string, runId: string, known?: SealedStepData): Promise<StepRecord> {
    const { [SEALED_ATTRIBUTES.sealed]: sealed, [SEALED_ATTRIBUTES.classification]: classification, ...clear } = item;
    if (sealed === undefined) return fromItem(clear);
    if (typeof classification !== 'string' || typeof clear['stepId'] !== 'string') throw new EnvelopeOpenError();
    const stepId = String(item[TASKS_TABLE.sortKey]).slice(stepKeys.run(runId).length);
    const context = { tenant: tenantId, task: stepContextTask(runId, stepId), classification };
    const data = known ?? (await openJson(this.sealing?.envelope, sealed, context, SealedStepDataSchema));
    const { outputJson: _output, error: _error, ...rest } = clear;
    return fromItem({ ...rest, ...(data.output !== undefined ? { outputJson: JSON.stringify(data.output) } : {}), ...(data.error ? { error: data.error } : {}) });
  }

  async get(tenantId: string, runId: string, stepId: string): Promise<StepRecord | undefined> {
    const { Item } = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keyOf(tenantId, runId, stepId), ConsistentRead: true }));
    return Item ? this.fromItem(Item, tenantId, runId) : undefined;
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
      records.push(...(await Promise.all((page.Items ?? []).map((item) => this.fromItem(item, tenantId, runId)))));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return records.sort((a, b) => compare(a.startedAt, b.startedAt) || compare(a.stepId, b.stepId));
  }

  async save(record: StepRecord): Promise<StepRecord> {
    const first = record.version === 0;
    const item = await this.toItem(record);
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
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
    return this.fromItem(item, record.tenantId, record.runId, sealedDataOf(record));
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

const sealedDataOf = (record: StepRecord): SealedStepData => ({
  ...(record.output !== undefined ? { output: record.output } : {}),
  ...(record.error ? { error: record.error } : {}),
});

const fromItem = (item: Item): StepRecord => {
  const { [TASKS_TABLE.partitionKey]: _pk, [TASKS_TABLE.sortKey]: _sk, ...attributes } = item;
  const { outputJson, ...record } = StepItemSchema.parse(attributes);
  return { ...dropUndefined(record), ...(outputJson !== undefined ? { output: JSON.parse(outputJson) as unknown } : {}) };
};

/** Optional attributes absent, not undefined (exactOptionalPropertyTypes-safe). */
const dropUndefined = <T extends object>(value: T): T =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
