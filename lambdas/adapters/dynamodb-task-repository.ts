import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { ConcurrencyError, ValidationError } from '../domain/errors';
import { EnvelopeOpenError } from '../domain/envelope';
import type { ClaimableQuery, ListTasksQuery, PromotableQuery, RedrivableQuery, TaskPage, TaskPatch, TaskRepository } from '../domain/ports';
import { isClaimable, isPromotable, isRedrivable, isTerminal, queuedSince, TaskSchema, type Task } from '../domain/task';
import { DISPATCH_SHARDS, QUEUED_SHARDS, RUN_SHARDS, TASKS_TABLE, taskKeys } from '../contracts/tasks-table';
import { openJson, runLevelLookup, SEALED_ATTRIBUTES, SealedTaskDataSchema, sealingLevel, sealJson, type SealedTaskData, type TaskSealing } from './sealed-attributes';

type Item = Record<string, unknown>;

const { tenant: tenantKey, task: taskKey, status: statusKey, order: orderKey } = taskKeys;
const { byCreated, byStatus: byStatusIndex, dispatchPending: dispatchIndex, deadLettered: deadLetterIndex, queued: queuedIndex, liveRuns: liveRunsIndex, claimable: claimableIndex } = TASKS_TABLE.indexes;
/** The liveRuns index holds runs with an execution that have not ended (the reconciler watches them). */
const inLiveRuns = (task: Task): boolean => task.workflow !== undefined && task.execution !== undefined && !isTerminal(task.status);
const liveRunKeys = (task: Task): Item => ({
  [liveRunsIndex.partitionKey]: taskKeys.runShard(createHash('sha256').update(task.taskId).digest()[2]! % RUN_SHARDS),
  [liveRunsIndex.sortKey]: `${task.tenantId}#${task.taskId}`,
});
/** The deadLettered index's keys of a task, present only while it is redrivable. */
const deadLetterKeys = (task: Task): Item => ({
  [deadLetterIndex.partitionKey]: taskKeys.deadLettered(task.priority),
  [deadLetterIndex.sortKey]: taskKeys.deadLetteredOrder(task.tenantId, task.createdAt, task.taskId),
});
/** The queued index holds tasks the escalator may promote: queued, below critical. */
const inQueuedIndex = (task: Task): boolean => task.status === 'queued' && task.priority !== 'critical';
const shardOf = (taskId: string, shards: number) => createHash('sha256').update(taskId).digest()[1]! % shards;
const queuedKeys = (task: Task): Item => ({
  [queuedIndex.partitionKey]: taskKeys.queuedShard(task.priority, shardOf(task.taskId, QUEUED_SHARDS)),
  [queuedIndex.sortKey]: orderKey(queuedSince(task), task.taskId),
});
/**
 * The claimable index's keys of a pulled task: `Q#<createdAt>` while queued, `L#<leaseUntil>` while
 * running (claimable again once that is past); none otherwise.
 */
const claimableKeys = (task: Task): Item | undefined =>
  task.pull && (task.status === 'queued' || task.status === 'running')
    ? {
        [claimableIndex.partitionKey]: taskKeys.claimable(task.tenantId, task.capability),
        [claimableIndex.sortKey]:
          task.status === 'queued' ? taskKeys.claimableQueued(task.createdAt, task.taskId) : taskKeys.claimableLeased(task.leaseUntil ?? '', task.taskId),
      }
    : undefined;
const dispatchShard = (taskId: string) => taskKeys.dispatchShard(createHash('sha256').update(taskId).digest()[0]! % DISPATCH_SHARDS);

const CursorSchema = z.object({ t: z.string(), k: z.record(z.string(), z.string()) }).strict();

/**
 * DynamoDB single-item conditional writes: no transactions, every change guarded by `version`.
 *
 * With `sealing`, the data of a task whose level is sensitive (its capability's level, at least its
 * parent run's) is kept sealed: the item holds `classification` and the binary `sealed` (input,
 * requestHash, result, error, sealed together with the context {tenant, task, classification})
 * instead of `inputJson`, `requestHash`, `resultJson` and `error`. Keys, index attributes, status
 * and version stay in the clear, so conditions and indexes work as before. A read opens with the
 * tenant and task of the key it asked for (never the item's own attributes), so an item copied under
 * another tenant's key does not open (SEALED_DATA_UNREADABLE). Writes that leave the sealed fields
 * alone call no KMS, and neither does the item an update returns (its data is the task's, patched).
 */
export class DynamoDbTaskRepository implements TaskRepository {
  private readonly doc: DynamoDBDocumentClient;
  private readonly runLevel: ((tenantId: string, runId: string) => Promise<string>) | undefined;

  constructor(client: DynamoDBClient, private readonly tableName: string, private readonly sealing?: TaskSealing) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.runLevel = sealing ? runLevelLookup(sealing, (tenantId, runId) => this.capabilityOf(tenantId, runId)) : undefined;
  }

  private async capabilityOf(tenantId: string, taskId: string): Promise<string | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keyOf(tenantId, taskId), ProjectionExpression: '#c', ExpressionAttributeNames: { '#c': 'capability' }, ConsistentRead: true }),
    );
    return typeof Item?.['capability'] === 'string' ? Item['capability'] : undefined;
  }

  /** The level a task's data is sealed at: its capability's, at least its parent run's; undefined: kept in the clear. */
  private async levelOf(task: Task): Promise<string | undefined> {
    if (!this.sealing) return undefined;
    const floor = task.parent && this.runLevel ? await this.runLevel(task.tenantId, task.parent.runId) : undefined;
    return sealingLevel(this.sealing, task.capability, floor);
  }

  private async toItem(task: Task): Promise<Item> {
    const level = await this.levelOf(task);
    if (!level) return toItem(task);
    const { inputJson: _input, resultJson: _result, error: _error, requestHash: _hash, ...clear } = toItem(task);
    return {
      ...clear,
      [SEALED_ATTRIBUTES.classification]: level,
      [SEALED_ATTRIBUTES.sealed]: await sealJson(this.sealing!.envelope, sealedDataOf(task), { tenant: task.tenantId, task: task.taskId, classification: level }),
    };
  }

  /**
   * The task of an item read under `tenantId`'s key. `known`: the sealed data as the caller already
   * has it (an update's own write), so nothing is opened.
   */
  private async fromItem(item: Item, tenantId: string, known?: SealedTaskData): Promise<Task> {
    const { [SEALED_ATTRIBUTES.sealed]: sealed, [SEALED_ATTRIBUTES.classification]: classification, ...clear } = item;
    if (sealed === undefined) return fromItem(clear);
    if (typeof classification !== 'string') throw new EnvelopeOpenError();
    const taskId = String(item[TASKS_TABLE.sortKey]).slice(taskKey('').length);
    const data = known ?? (await openJson(this.sealing?.envelope, sealed, { tenant: tenantId, task: taskId, classification }, SealedTaskDataSchema));
    const { inputJson: _input, resultJson: _result, error: _error, requestHash: _hash, ...rest } = clear;
    return fromItem({
      ...rest,
      inputJson: JSON.stringify(data.input ?? null),
      requestHash: data.requestHash,
      ...(data.result !== undefined ? { resultJson: JSON.stringify(data.result) } : {}),
      ...(data.error ? { error: data.error } : {}),
    });
  }

  async create(task: Task): Promise<{ created: boolean; task: Task }> {
    try {
      await this.doc.send(
        new PutCommand({ TableName: this.tableName, Item: await this.toItem(task), ConditionExpression: `attribute_not_exists(${TASKS_TABLE.partitionKey})` }),
      );
      return { created: true, task };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const existing = await this.get(task.tenantId, task.taskId);
      if (!existing) throw new ConcurrencyError('task vanished while being created');
      return { created: false, task: existing };
    }
  }

  async get(tenantId: string, taskId: string): Promise<Task | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keyOf(tenantId, taskId), ConsistentRead: true }),
    );
    return Item ? this.fromItem(Item, tenantId) : undefined;
  }

  async list(tenantId: string, query: ListTasksQuery): Promise<TaskPage> {
    const byStatus = query.status !== undefined;
    const partition = byStatus ? statusKey(tenantId, query.status!) : tenantKey(tenantId);
    const index = byStatus ? byStatusIndex : byCreated;
    const { Items = [], LastEvaluatedKey } = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: index.indexName,
        KeyConditionExpression: `${index.partitionKey} = :p`,
        ExpressionAttributeValues: { ':p': partition },
        ScanIndexForward: false,
        Limit: query.limit,
        ...(query.cursor ? { ExclusiveStartKey: decodeCursor(query.cursor, tenantId, index, partition) } : {}),
      }),
    );
    // Index rows can be stale (an index is eventually consistent on AWS; dynalite can keep an old
    // row after a crash): each task is listed once, as its table item says now.
    const seen = new Set<string>();
    const ids = Items.map((item) => String(item[TASKS_TABLE.sortKey])).filter((sk) => !seen.has(sk) && seen.add(sk));
    const current = await this.getMany(tenantId, ids);
    return {
      tasks: ids.flatMap((sk) => {
        const task = current.get(sk);
        return task && (!byStatus || task.status === query.status) ? [task] : [];
      }),
      ...(LastEvaluatedKey ? { nextCursor: encodeCursor(tenantId, LastEvaluatedKey) } : {}),
    };
  }

  /** Consistent reads of up to 100 of a tenant's tasks by sort key, in one BatchGetItem (plus retries of unprocessed keys). */
  private async getMany(tenantId: string, sortKeys: string[]): Promise<Map<string, Task>> {
    const found = new Map<string, Task>();
    let keys: Item[] = sortKeys.map((sk) => ({ [TASKS_TABLE.partitionKey]: tenantKey(tenantId), [TASKS_TABLE.sortKey]: sk }));
    for (let round = 0; keys.length > 0; round += 1) {
      if (round > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** round)));
      const { Responses, UnprocessedKeys } = await this.doc.send(
        new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }),
      );
      const items = Responses?.[this.tableName] ?? [];
      // Sealed items open side by side: one KMS Decrypt each (docs/performance.md, "Envelope encryption").
      const tasks = await Promise.all(items.map((item) => this.fromItem(item, tenantId)));
      items.forEach((item, i) => found.set(String(item[TASKS_TABLE.sortKey]), tasks[i]!));
      keys = (UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Item[];
      if (round >= 8 && keys.length > 0) throw new Error('tasks table: unprocessed keys after 8 retries');
    }
    return found;
  }

  async update(task: Task, patch: TaskPatch, now: Date): Promise<Task> {
    const sets: string[] = ['#version = #version + :one', 'updatedAt = :now'];
    const removes: string[] = [];
    const values: Item = { ':one': 1, ':now': now.toISOString(), ':expected': task.version };
    const names: Record<string, string> = { '#version': 'version' };
    const set = (name: string, value: unknown) => {
      names[`#${name}`] = name;
      values[`:${name}`] = value;
      sets.push(`#${name} = :${name}`);
    };
    if (patch.status !== undefined) {
      set('status', patch.status);
      set(byStatusIndex.partitionKey, statusKey(task.tenantId, patch.status));
    }
    if (patch.attempts !== undefined) set('attempts', patch.attempts);
    // With sealing, a change of the result or error rewrites the task's data as a whole (below).
    const rewritesData = this.sealing !== undefined && (patch.result !== undefined || patch.error !== undefined || patch.removeError === true);
    if (!rewritesData) {
      if (patch.result !== undefined) set('resultJson', JSON.stringify(patch.result));
      if (patch.error !== undefined) set('error', patch.error);
      if (patch.removeError) {
        names['#error'] = 'error';
        removes.push('#error');
      }
    }
    if (patch.redrivenAt !== undefined) set('redrivenAt', patch.redrivenAt);
    if (patch.priority !== undefined) set('priority', patch.priority);
    if (patch.priorityChanges !== undefined) set('priorityChanges', patch.priorityChanges);
    if (patch.execution !== undefined) set('execution', patch.execution);
    if (patch.approval !== undefined) set('approval', patch.approval);
    if (patch.removeApproval) {
      names['#approval'] = 'approval';
      removes.push('#approval');
    }
    if (patch.decisions !== undefined) set('decisions', patch.decisions);
    if (patch.leaseUntil !== undefined) set('leaseUntil', patch.leaseUntil);
    if (patch.leaseId !== undefined) set('leaseId', patch.leaseId);
    if (patch.removeLease) removes.push('leaseUntil', 'leaseId');
    else if (patch.removeLeaseId) removes.push('leaseId');
    if (patch.pull !== undefined) set('pull', patch.pull);
    if (patch.dispatchPending === false) removes.push(dispatchIndex.partitionKey, dispatchIndex.sortKey);
    if (patch.dispatchPending === true) {
      set(dispatchIndex.partitionKey, dispatchShard(task.taskId));
      set(dispatchIndex.sortKey, orderKey(task.createdAt, task.taskId));
    }
    // The task after this write (the write is conditional on `task` being the stored version).
    const next = {
      ...task,
      ...patch,
      ...(patch.removeError ? { error: undefined } : {}),
      ...(patch.removeLease ? { leaseUntil: undefined, leaseId: undefined } : {}),
    };
    if (rewritesData) {
      // The whole data in the form the task's level asks for now, the other form removed (an UpdateItem
      // is billed by the item's size, not by what it sets). Sealed: one GenerateDataKey.
      const remove = (name: string) => {
        names[`#${name}`] = name;
        removes.push(`#${name}`);
      };
      const level = await this.levelOf(next);
      if (level) {
        set(SEALED_ATTRIBUTES.classification, level);
        set(SEALED_ATTRIBUTES.sealed, await sealJson(this.sealing!.envelope, sealedDataOf(next), { tenant: task.tenantId, task: task.taskId, classification: level }));
        ['inputJson', 'requestHash', 'resultJson', 'error'].forEach(remove);
      } else {
        set('inputJson', JSON.stringify(next.input ?? null));
        set('requestHash', next.requestHash);
        if (next.result !== undefined) set('resultJson', JSON.stringify(next.result));
        else remove('resultJson');
        if (next.error !== undefined) set('error', next.error);
        else remove('error');
        [SEALED_ATTRIBUTES.classification, SEALED_ATTRIBUTES.sealed].forEach(remove);
      }
    }
    if (isRedrivable(next)) Object.entries(deadLetterKeys(next)).forEach(([name, value]) => set(name, value));
    else if (isRedrivable(task)) removes.push(deadLetterIndex.partitionKey, deadLetterIndex.sortKey);
    if (inQueuedIndex(next)) {
      if (!inQueuedIndex(task) || patch.priority !== undefined) Object.entries(queuedKeys(next)).forEach(([name, value]) => set(name, value));
    } else if (inQueuedIndex(task)) removes.push(queuedIndex.partitionKey, queuedIndex.sortKey);
    const [claimBefore, claimAfter] = [claimableKeys(task), claimableKeys(next)];
    if (claimAfter) {
      if (claimAfter[claimableIndex.sortKey] !== claimBefore?.[claimableIndex.sortKey]) Object.entries(claimAfter).forEach(([name, value]) => set(name, value));
    } else if (claimBefore) removes.push(claimableIndex.partitionKey, claimableIndex.sortKey);
    if (inLiveRuns(next) && !inLiveRuns(task)) Object.entries(liveRunKeys(next)).forEach(([name, value]) => set(name, value));
    else if (!inLiveRuns(next) && inLiveRuns(task)) removes.push(liveRunsIndex.partitionKey, liveRunsIndex.sortKey);
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(task.tenantId, task.taskId),
          UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ConditionExpression: `attribute_exists(${TASKS_TABLE.partitionKey}) AND #version = :expected`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      // The data written (or kept) is the patched task's: nothing to open.
      return await this.fromItem(Attributes!, task.tenantId, sealedDataOf(next));
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new ConcurrencyError(`task ${task.taskId} changed since version ${task.version}`);
      }
      throw error;
    }
  }

  async listDispatchPending(before: Date, limit: number): Promise<Task[]> {
    const pages = await Promise.all(
      Array.from({ length: DISPATCH_SHARDS }, (_, shard) =>
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: dispatchIndex.indexName,
            KeyConditionExpression: `${dispatchIndex.partitionKey} = :p AND ${dispatchIndex.sortKey} < :before`,
            ExpressionAttributeValues: { ':p': taskKeys.dispatchShard(shard), ':before': before.toISOString() },
            Limit: limit,
          }),
        ),
      ),
    );
    // Index reads are eventually consistent: re-read each task so the caller acts on the latest version.
    const candidates = pages.flatMap((page) => page.Items ?? []).slice(0, limit);
    const fresh = await Promise.all(candidates.map((item) => this.get(String(item['tenantId']), String(item['taskId']))));
    return fresh.filter((task): task is Task => task?.dispatchPending === true);
  }

  /**
   * Per shard of the priority: the oldest waiting (sort key before `waitingBefore`), then the rest
   * that have a deadline (a filter; the deadline is checked on the re-read task).
   */
  async listPromotable(query: PromotableQuery): Promise<Task[]> {
    const shards = Array.from({ length: QUEUED_SHARDS }, (_, shard) => taskKeys.queuedShard(query.priority, shard));
    const waited = `${query.waitingBefore.toISOString()}#`;
    const pages = await Promise.all(
      shards.flatMap((partition) => [
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: queuedIndex.indexName,
            KeyConditionExpression: `${queuedIndex.partitionKey} = :p AND ${queuedIndex.sortKey} < :waited`,
            ExpressionAttributeValues: { ':p': partition, ':waited': waited },
            Limit: query.limit,
          }),
        ),
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: queuedIndex.indexName,
            KeyConditionExpression: `${queuedIndex.partitionKey} = :p AND ${queuedIndex.sortKey} >= :waited`,
            FilterExpression: 'attribute_exists(deadline)',
            ExpressionAttributeValues: { ':p': partition, ':waited': waited },
            Limit: query.limit * 4,
          }),
        ),
      ]),
    );
    const seen = new Set<string>();
    const candidates = pages
      .flatMap((page) => page.Items ?? [])
      .filter((item) => !seen.has(`${item['tenantId']}/${item['taskId']}`) && seen.add(`${item['tenantId']}/${item['taskId']}`))
      .slice(0, query.limit * 2);
    // Index reads are eventually consistent: re-read each task so the caller acts on the latest version.
    const fresh = await Promise.all(candidates.map((item) => this.get(String(item['tenantId']), String(item['taskId']))));
    return fresh.filter((task): task is Task => task !== undefined && isPromotable(task, query)).slice(0, query.limit);
  }

  async listLiveRuns(limit: number): Promise<Task[]> {
    const pages = await Promise.all(
      Array.from({ length: RUN_SHARDS }, (_, shard) =>
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: liveRunsIndex.indexName,
            KeyConditionExpression: `${liveRunsIndex.partitionKey} = :p`,
            ExpressionAttributeValues: { ':p': taskKeys.runShard(shard) },
            Limit: limit,
          }),
        ),
      ),
    );
    const candidates = pages.flatMap((page) => page.Items ?? []).slice(0, limit);
    // Index reads are eventually consistent: re-read each run so the caller acts on the latest version.
    const fresh = await Promise.all(candidates.map((item) => this.get(String(item['tenantId']), String(item['taskId']))));
    return fresh.filter((task): task is Task => task !== undefined && inLiveRuns(task));
  }

  /**
   * Per capability, two queries of its partition: the queued rows oldest first, and the running rows
   * whose lease ran out by `now`. Every row is re-read (an index is eventually consistent) and kept
   * only if it is claimable now; oldest first across capabilities.
   */
  async listClaimable(query: ClaimableQuery): Promise<Task[]> {
    const expiredUpTo = `${taskKeys.claimableLeased(query.now.toISOString(), '')}~`;
    const pages = await Promise.all(
      [...new Set(query.capabilities)].flatMap((capability) => {
        const partition = taskKeys.claimable(query.tenantId, capability);
        return [
          this.doc.send(
            new QueryCommand({
              TableName: this.tableName,
              IndexName: claimableIndex.indexName,
              KeyConditionExpression: `${claimableIndex.partitionKey} = :p AND begins_with(${claimableIndex.sortKey}, :queued)`,
              ExpressionAttributeValues: { ':p': partition, ':queued': 'Q#' },
              Limit: query.limit,
            }),
          ),
          this.doc.send(
            new QueryCommand({
              TableName: this.tableName,
              IndexName: claimableIndex.indexName,
              KeyConditionExpression: `${claimableIndex.partitionKey} = :p AND ${claimableIndex.sortKey} BETWEEN :from AND :to`,
              ExpressionAttributeValues: { ':p': partition, ':from': 'L#', ':to': expiredUpTo },
              Limit: query.limit,
            }),
          ),
        ];
      }),
    );
    const ids = [...new Set(pages.flatMap((page) => page.Items ?? []).map((item) => String(item['taskId'])))];
    const fresh = await Promise.all(ids.map((taskId) => this.get(query.tenantId, taskId)));
    return fresh
      .filter((task): task is Task => task !== undefined && isClaimable(task, query.now.getTime()) && query.capabilities.includes(task.capability))
      .sort((a, b) => (`${a.createdAt}#${a.taskId}` < `${b.createdAt}#${b.taskId}` ? -1 : 1))
      .slice(0, query.limit);
  }

  async listRedrivable(query: RedrivableQuery): Promise<Task[]> {
    const { Items = [] } = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: deadLetterIndex.indexName,
        KeyConditionExpression:
          `${deadLetterIndex.partitionKey} = :p` + (query.tenantId !== undefined ? ` AND begins_with(${deadLetterIndex.sortKey}, :tenant)` : ''),
        ExpressionAttributeValues: {
          ':p': taskKeys.deadLettered(query.priority),
          ...(query.tenantId !== undefined ? { ':tenant': taskKeys.deadLetteredTenant(query.tenantId) } : {}),
        },
        Limit: query.limit,
      }),
    );
    // Index reads are eventually consistent: re-read each task so the caller acts on the latest version.
    const fresh = await Promise.all(Items.map((item) => this.get(String(item['tenantId']), String(item['taskId']))));
    return fresh.filter((task): task is Task => task !== undefined && isRedrivable(task));
  }
}

const keyOf = (tenantId: string, taskId: string): Item => ({
  [TASKS_TABLE.partitionKey]: tenantKey(tenantId),
  [TASKS_TABLE.sortKey]: taskKey(taskId),
});

/** Attributes that exist only for keys and indexes; the task itself never holds them. */
const KEY_ATTRIBUTES = [
  TASKS_TABLE.partitionKey,
  TASKS_TABLE.sortKey,
  ...Object.values(TASKS_TABLE.indexes).flatMap((index) => [index.partitionKey, index.sortKey]),
];

const toItem = (task: Task): Item => {
  const { input, result, dispatchPending, ...rest } = task;
  const order = orderKey(task.createdAt, task.taskId);
  return {
    ...rest,
    ...keyOf(task.tenantId, task.taskId),
    [byCreated.partitionKey]: tenantKey(task.tenantId),
    [byCreated.sortKey]: order,
    [byStatusIndex.partitionKey]: statusKey(task.tenantId, task.status),
    [byStatusIndex.sortKey]: order,
    inputJson: JSON.stringify(input ?? null),
    ...(result !== undefined ? { resultJson: JSON.stringify(result) } : {}),
    ...(dispatchPending ? { [dispatchIndex.partitionKey]: dispatchShard(task.taskId), [dispatchIndex.sortKey]: order } : {}),
    ...(isRedrivable(task) ? deadLetterKeys(task) : {}),
    ...(inQueuedIndex(task) ? queuedKeys(task) : {}),
    ...(inLiveRuns(task) ? liveRunKeys(task) : {}),
    ...claimableKeys(task),
  };
};

/** What a sensitive task item keeps sealed. */
const sealedDataOf = (task: Pick<Task, 'input' | 'requestHash' | 'result' | 'error'>): SealedTaskData => ({
  input: task.input ?? null,
  requestHash: task.requestHash,
  ...(task.result !== undefined ? { result: task.result } : {}),
  ...(task.error ? { error: task.error } : {}),
});

const fromItem = (item: Item): Task => {
  const { inputJson, resultJson, ...attributes } = item;
  const rest = Object.fromEntries(Object.entries(attributes).filter(([name]) => !KEY_ATTRIBUTES.includes(name as never)));
  return TaskSchema.parse({
    ...rest,
    input: JSON.parse(String(inputJson ?? 'null')),
    ...(resultJson !== undefined ? { result: JSON.parse(String(resultJson)) } : {}),
    dispatchPending: item[dispatchIndex.partitionKey] !== undefined,
  });
};

const encodeCursor = (tenantId: string, key: Item): string =>
  Buffer.from(JSON.stringify({ t: tenantId, k: key })).toString('base64url');

/** A cursor is only good for the tenant and the listing (all, or one status) that produced it. */
const decodeCursor = (
  cursor: string,
  tenantId: string,
  index: { partitionKey: string; sortKey: string },
  partition: string,
): Item => {
  try {
    const { t, k } = CursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (t !== tenantId || k[TASKS_TABLE.partitionKey] !== tenantKey(tenantId) || k[index.partitionKey] !== partition) throw new Error('foreign cursor');
    // Exactly the keys of the table and the index, as DynamoDB requires of ExclusiveStartKey.
    const expected = [TASKS_TABLE.partitionKey, TASKS_TABLE.sortKey, index.partitionKey, index.sortKey].sort();
    if (JSON.stringify(Object.keys(k).sort()) !== JSON.stringify(expected)) throw new Error('not a key of this listing');
    return k;
  } catch {
    throw new ValidationError('invalid cursor');
  }
};
