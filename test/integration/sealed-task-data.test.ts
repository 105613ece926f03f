import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbStepStore } from '../../lambdas/adapters/dynamodb-step-store';
import { DynamoDbTaskRepository } from '../../lambdas/adapters/dynamodb-task-repository';
import { LocalEnvelope } from '../../lambdas/adapters/local-envelope';
import type { TaskSealing } from '../../lambdas/adapters/sealed-attributes';
import { ENV } from '../../lambdas/contracts';
import { ClassificationSettingsSchema } from '../../lambdas/contracts/classification';
import { stepKeys, TASKS_TABLE, taskKeys } from '../../lambdas/contracts/tasks-table';
import { EnvelopeOpenError, type Envelope, type EnvelopeContext } from '../../lambdas/domain/envelope';
import { ConcurrencyError } from '../../lambdas/domain/errors';
import { randomTaskId } from '../../lambdas/domain/ids';
import { DEAD_LETTERED, type Task } from '../../lambdas/domain/task';
import type { StepRecord } from '../../lambdas/domain/workflow-ports';
import { startEmulatedPlatform, type EmulatedPlatform } from '../../bin/harness/emulated-platform';

/** The local envelope, counting its calls (what KMS would be asked). */
class CountingEnvelope implements Envelope {
  seals = 0;
  opens = 0;
  constructor(private readonly inner: Envelope) {}
  seal(plaintext: Uint8Array, context: EnvelopeContext) {
    this.seals += 1;
    return this.inner.seal(plaintext, context);
  }
  open(sealed: Uint8Array, context: EnvelopeContext) {
    this.opens += 1;
    return this.inner.open(sealed, context);
  }
}

const classifications = ClassificationSettingsSchema.parse({
  levels: ['internal', 'confidential', 'restricted'],
  default: 'internal',
  capabilities: { 'secret-echo': 'restricted', 'pii-echo': 'confidential', 'workflow.claims': 'restricted' },
});

let env: EmulatedPlatform;
let table: string;
let raw: DynamoDBDocumentClient;
let envelope: CountingEnvelope;
let tasks: DynamoDbTaskRepository;
let steps: DynamoDbStepStore;
beforeAll(async () => {
  env = await startEmulatedPlatform();
  table = env.gatewayEnv[ENV.tasksTable]!;
  raw = DynamoDBDocumentClient.from(env.dynamodb);
  envelope = new CountingEnvelope(LocalEnvelope.fromKey(randomBytes(32), classifications.levels));
  const sealing: TaskSealing = { envelope, classifications };
  tasks = new DynamoDbTaskRepository(env.dynamodb, table, sealing);
  steps = new DynamoDbStepStore(env.dynamodb, table, sealing);
});
afterAll(() => env?.stop());

const MARKER = 'MARKER-7f3a9c-sensitive';
let clock = Date.parse('2026-11-25T10:00:00Z');
const newTask = (tenantId: string, overrides: Partial<Task> = {}): Task => {
  const at = new Date((clock += 1000)).toISOString();
  return {
    tenantId, taskId: randomTaskId(), capability: 'secret-echo', input: { note: MARKER, n: clock }, priority: 'normal',
    status: 'queued', version: 0, attempts: 0, requestHash: `hash-of-${MARKER}`, submittedBy: 'u', dispatchPending: true, createdAt: at, updatedAt: at,
    ...overrides,
  };
};

/** Every item of the table, as the emulator stores it (no SDK unmarshalling), as one string. */
const scanRaw = async (): Promise<string> => {
  const items: unknown[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await env.dynamodb.send(new ScanCommand({ TableName: table, ...(start ? { ExclusiveStartKey: start as never } : {}) }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return JSON.stringify(items, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : value));
};
const rawItem = async (tenantId: string, taskId: string) =>
  (await raw.send(new GetCommand({ TableName: table, Key: { [TASKS_TABLE.partitionKey]: taskKeys.tenant(tenantId), [TASKS_TABLE.sortKey]: taskKeys.task(taskId) } }))).Item!;

describe('sealed task data at rest (dynalite, local envelope)', () => {
  it('keeps a sensitive task\'s input, request hash, result and error out of the item, and reads them back equal', async () => {
    const task = newTask('acme');
    await tasks.create(task);
    const running = await tasks.update(task, { status: 'running', attempts: 1 }, new Date());
    const done = await tasks.update(running, { status: 'succeeded', result: { echoed: MARKER } }, new Date());

    expect((await scanRaw()).includes(MARKER)).toBe(false);
    const item = await rawItem('acme', task.taskId);
    expect(item).toMatchObject({ classification: 'restricted', status: 'succeeded', version: 2 });
    expect(item['sealed']).toBeInstanceOf(Uint8Array);
    expect(Object.keys(item)).not.toEqual(expect.arrayContaining(['inputJson']));
    expect(item).not.toHaveProperty('resultJson');
    expect(item).not.toHaveProperty('requestHash');
    const read = await tasks.get('acme', task.taskId);
    expect(read).toEqual({ ...done, updatedAt: read!.updatedAt });
    expect(read).toMatchObject({ input: task.input, requestHash: task.requestHash, result: { echoed: MARKER }, version: 2 });
  });

  it('seals a failed task\'s error too, and keeps its dead-letter index row (the code is read after opening)', async () => {
    const task = newTask('acme');
    await tasks.create(task);
    const failed = await tasks.update(task, { status: 'failed', error: { code: DEAD_LETTERED, message: `agent said ${MARKER}` } }, new Date());

    expect(JSON.stringify(await rawItem('acme', task.taskId))).not.toContain(MARKER);
    expect((await rawItem('acme', task.taskId))['dlpk']).toBe(taskKeys.deadLettered('normal'));
    expect((await tasks.get('acme', task.taskId))?.error).toEqual(failed.error);
    const redrivable = await tasks.listRedrivable({ priority: 'normal', tenantId: 'acme', limit: 10 });
    expect(redrivable.map((t) => t.taskId)).toContain(task.taskId);
    const cleared = await tasks.update(failed, { status: 'queued', removeError: true, redrivenAt: new Date().toISOString() }, new Date());
    expect((await tasks.get('acme', task.taskId))).toEqual({ ...cleared, updatedAt: expect.any(String) });
    expect(cleared.error).toBeUndefined();
  });

  it('does not open tenant A\'s item copied under tenant B\'s key (SEALED_DATA_UNREADABLE), nor one copied to another task id', async () => {
    const task = newTask('tenant-a');
    await tasks.create(task);
    const item = await rawItem('tenant-a', task.taskId);

    await raw.send(new PutCommand({ TableName: table, Item: { ...item, [TASKS_TABLE.partitionKey]: taskKeys.tenant('tenant-b') } }));
    const otherId = randomTaskId();
    await raw.send(new PutCommand({ TableName: table, Item: { ...item, [TASKS_TABLE.sortKey]: taskKeys.task(otherId) } }));

    const asB = await tasks.get('tenant-b', task.taskId).then(() => 'opened', (error: unknown) => error);
    expect(asB).toBeInstanceOf(EnvelopeOpenError);
    expect((asB as EnvelopeOpenError).code).toBe('SEALED_DATA_UNREADABLE');
    await expect(tasks.get('tenant-a', otherId)).rejects.toBeInstanceOf(EnvelopeOpenError);
    expect(await tasks.get('tenant-a', task.taskId)).toEqual(task);
  });

  it('keeps the idempotent create: a second create with the same id returns the stored task, request hash included', async () => {
    const task = newTask('acme');
    await tasks.create(task);

    const again = await tasks.create({ ...task, requestHash: 'another request' });

    expect(again.created).toBe(false);
    expect(again.task.requestHash).toBe(task.requestHash);
  });

  it('keeps conditional writes: an update from a stale version is refused and writes nothing', async () => {
    const task = newTask('acme');
    await tasks.create(task);
    await tasks.update(task, { status: 'running' }, new Date());

    await expect(tasks.update(task, { status: 'failed', error: { code: 'X', message: 'late' } }, new Date())).rejects.toBeInstanceOf(ConcurrencyError);
    const stored = await tasks.get('acme', task.taskId);
    expect(stored).toMatchObject({ status: 'running', version: 1 });
    expect(stored?.error).toBeUndefined();
  });

  it('leaves a task of a level that is not sensitive as before: plain attributes, no envelope call', async () => {
    const task = newTask('acme', { capability: 'echo', input: { plain: 'visible' }, requestHash: 'plain-hash' });
    const before = { seals: envelope.seals, opens: envelope.opens };

    await tasks.create(task);
    await tasks.update(task, { status: 'succeeded', result: { plain: 'out' } }, new Date());
    const read = await tasks.get('acme', task.taskId);

    expect(await rawItem('acme', task.taskId)).toMatchObject({ inputJson: '{"plain":"visible"}', resultJson: '{"plain":"out"}', requestHash: task.requestHash });
    expect(await rawItem('acme', task.taskId)).not.toHaveProperty('sealed');
    expect(read?.result).toEqual({ plain: 'out' });
    expect({ seals: envelope.seals, opens: envelope.opens }).toEqual(before);
  });

  it('calls the envelope once per sealed write that changes the data, never for other writes or for the item an update returns, once per sealed task listed', async () => {
    const tenant = `count-${randomTaskId().slice(4, 12)}`;
    const created: Task[] = [];
    for (let i = 0; i < 3; i += 1) created.push(newTask(tenant));
    const start = { seals: envelope.seals, opens: envelope.opens };
    for (const task of created) await tasks.create(task);
    const running = await tasks.update(created[0]!, { status: 'running', leaseUntil: new Date().toISOString() }, new Date());
    await tasks.update(running, { status: 'succeeded', result: { ok: true } }, new Date());
    const afterWrites = { seals: envelope.seals - start.seals, opens: envelope.opens - start.opens };
    const page = await tasks.list(tenant, { limit: 10 });

    expect(afterWrites).toEqual({ seals: 4, opens: 0 });
    expect(page.tasks).toHaveLength(3);
    expect(envelope.opens - start.opens).toBe(3);
  });

  it('seals the child task of a sensitive run at the run\'s level, whatever its own capability', async () => {
    const run = newTask('acme', { capability: 'workflow.claims', workflow: 'claims', dispatchPending: false });
    await tasks.create(run);
    const child = newTask('acme', { capability: 'echo', parent: { runId: run.taskId, stepId: 'lookup', token: 'tok' } });

    await tasks.create(child);

    expect(await rawItem('acme', child.taskId)).toMatchObject({ classification: 'restricted' });
    expect(JSON.stringify(await rawItem('acme', child.taskId))).not.toContain(MARKER);
    expect(await tasks.get('acme', child.taskId)).toEqual(child);
  });
});

describe('sealed step data at rest', () => {
  const stepOf = (tenantId: string, runId: string, stepId: string, overrides: Partial<StepRecord> = {}): StepRecord => ({
    tenantId, runId, stepId, kind: 'agent', status: 'running', attempts: 1, capability: 'echo', version: 0,
    startedAt: '2026-11-25T10:00:00.000Z', updatedAt: '2026-11-25T10:00:00.000Z', ...overrides,
  });

  it('seals every step output and error of a run of a sensitive workflow, with the run and step in the context', async () => {
    const run = newTask('acme', { capability: 'workflow.claims', workflow: 'claims', dispatchPending: false });
    await tasks.create(run);
    await steps.save(stepOf('acme', run.taskId, 'first'));
    const done = await steps.save(stepOf('acme', run.taskId, 'first', { status: 'succeeded', output: { found: MARKER }, version: 1 }));
    await steps.save(stepOf('acme', run.taskId, 'second', { status: 'failed', error: { code: 'E', message: MARKER } }));

    expect((await scanRaw()).includes(MARKER)).toBe(false);
    const item = (await raw.send(new GetCommand({ TableName: table, Key: { [TASKS_TABLE.partitionKey]: stepKeys.tenant('acme'), [TASKS_TABLE.sortKey]: stepKeys.step(run.taskId, 'first') } }))).Item!;
    expect(item).toMatchObject({ classification: 'restricted', status: 'succeeded' });
    expect(done.output).toEqual({ found: MARKER });
    expect((await steps.list('acme', run.taskId)).map((s) => s.output ?? s.error)).toEqual([{ found: MARKER }, { code: 'E', message: MARKER }]);

    // One step's sealed item moved to another step of the same run does not open.
    await raw.send(new PutCommand({ TableName: table, Item: { ...item, [TASKS_TABLE.sortKey]: stepKeys.step(run.taskId, 'third'), stepId: 'third' } }));
    await expect(steps.get('acme', run.taskId, 'third')).rejects.toBeInstanceOf(EnvelopeOpenError);
  });

  it('keeps the steps of a run whose level is not sensitive in the clear', async () => {
    const run = newTask('acme', { capability: 'workflow.demo', workflow: 'demo', dispatchPending: false, input: {} });
    await tasks.create(run);

    await steps.save(stepOf('acme', run.taskId, 'only', { status: 'succeeded', output: { visible: true } }));

    const item = (await raw.send(new GetCommand({ TableName: table, Key: { [TASKS_TABLE.partitionKey]: stepKeys.tenant('acme'), [TASKS_TABLE.sortKey]: stepKeys.step(run.taskId, 'only') } }))).Item!;
    expect(item).toMatchObject({ outputJson: '{"visible":true}' });
    expect(item).not.toHaveProperty('sealed');
  });
});
