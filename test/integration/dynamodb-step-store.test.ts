import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbStepStore } from '../../lambdas/adapters/dynamodb-step-store';
import { ENV } from '../../lambdas/contracts';
import { stepKeys, TASKS_TABLE, TASKS_TABLE_INDEXES } from '../../lambdas/contracts/tasks-table';
import { ConcurrencyError } from '../../lambdas/domain/errors';
import { randomTaskId } from '../../lambdas/domain/ids';
import type { Task } from '../../lambdas/domain/task';
import type { StepRecord } from '../../lambdas/domain/workflow-ports';
import { startEmulatedPlatform, type EmulatedPlatform } from '../../bin/harness/emulated-platform';

let env: EmulatedPlatform;
let steps: DynamoDbStepStore;
beforeAll(async () => {
  env = await startEmulatedPlatform();
  steps = new DynamoDbStepStore(env.dynamodb, env.gatewayEnv[ENV.tasksTable]!);
});
afterAll(() => env?.stop());

const at = (second: number) => new Date(Date.parse('2026-11-25T10:00:00Z') + second * 1000).toISOString();
const stepOf = (tenantId: string, runId: string, stepId: string, overrides: Partial<StepRecord> = {}): StepRecord => ({
  tenantId, runId, stepId, kind: 'agent', status: 'running', attempts: 1, capability: 'echo', version: 0,
  startedAt: at(0), updatedAt: at(0), ...overrides,
});
const runOf = (tenantId: string): Task => ({
  tenantId, taskId: randomTaskId(), capability: 'workflow.demo', input: { q: 1 }, priority: 'normal', status: 'running', version: 0,
  attempts: 1, requestHash: 'h', submittedBy: 'u', dispatchPending: false, createdAt: at(0), updatedAt: at(0),
});

describe('DynamoDbStepStore against dynalite (the tasks table of the CDK template)', () => {
  it('saves and reads back a record, any JSON output exactly', async () => {
    const runId = randomTaskId();
    const output = { unicode: 'héllo ✓', big: 12345678901234, float: 0.1, empty: '', arr: [], nested: { null: null, list: [1, 'two'] } };
    await steps.save(stepOf('acme', runId, 'first'));
    const saved = await steps.save(stepOf('acme', runId, 'first', { status: 'succeeded', output, version: 1, updatedAt: at(1), finishedAt: at(1) }));
    expect(saved.output).toEqual(output);
    expect(await steps.get('acme', runId, 'first')).toEqual(stepOf('acme', runId, 'first', { status: 'succeeded', output, version: 1, updatedAt: at(1), finishedAt: at(1) }));
    expect(await steps.get('acme', runId, 'other')).toBeUndefined();
    expect(await steps.get('someone-else', runId, 'first')).toBeUndefined();
  });

  it('keeps outputs that are not objects (null, a string, a number, false)', async () => {
    const runId = randomTaskId();
    for (const [index, output] of [null, 'text', 42, false].entries()) {
      await steps.save(stepOf('acme', runId, `s${index}`, { status: 'succeeded', output }));
      expect((await steps.get('acme', runId, `s${index}`))?.output).toEqual(output);
    }
  });

  it('stores a step with only its table keys: no index attribute', async () => {
    const runId = randomTaskId();
    await steps.save(stepOf('acme', runId, 'first', { output: { a: 1 } }));
    const doc = DynamoDBDocumentClient.from(env.dynamodb);
    const { Item } = await doc.send(new GetCommand({ TableName: env.gatewayEnv[ENV.tasksTable]!, Key: { pk: stepKeys.tenant('acme'), sk: stepKeys.step(runId, 'first') } }));
    expect(Item?.[TASKS_TABLE.sortKey]).toBe(`TASK#${runId}#STEP#first`);
    for (const index of TASKS_TABLE_INDEXES) {
      expect(Item).not.toHaveProperty(index.partitionKey);
      expect(Item).not.toHaveProperty(index.sortKey);
    }
  });

  it('refuses a second first save, and a save from a stale version (ConcurrencyError)', async () => {
    const runId = randomTaskId();
    await steps.save(stepOf('acme', runId, 'first'));
    await expect(steps.save(stepOf('acme', runId, 'first'))).rejects.toBeInstanceOf(ConcurrencyError);
    await steps.save(stepOf('acme', runId, 'first', { attempts: 2, version: 1 }));
    await expect(steps.save(stepOf('acme', runId, 'first', { status: 'failed', version: 1 }))).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(steps.save(stepOf('acme', runId, 'first', { version: 5 }))).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await steps.get('acme', runId, 'first')).toMatchObject({ attempts: 2, version: 1, status: 'running' });
  });

  it('lists every step of a run, in the order they started (then by id), and nothing of another run', async () => {
    const runId = randomTaskId();
    const otherRun = randomTaskId();
    await steps.save(stepOf('acme', runId, 'c', { startedAt: at(2) }));
    await steps.save(stepOf('acme', runId, 'b', { startedAt: at(1) }));
    await steps.save(stepOf('acme', runId, 'a', { startedAt: at(2) }));
    await steps.save(stepOf('acme', otherRun, 'z', { startedAt: at(0) }));
    await steps.save(stepOf('other', runId, 'y', { startedAt: at(0) }));
    expect((await steps.list('acme', runId)).map((s) => s.stepId)).toEqual(['b', 'a', 'c']);
    expect(await steps.list('acme', randomTaskId())).toEqual([]);
  });

  it('lists a run of many steps across pages', async () => {
    const runId = randomTaskId();
    // About 40 KB each: more than one 1 MB query page in all.
    const output = { text: 'x'.repeat(40_000) };
    const ids = Array.from({ length: 30 }, (_, i) => `s${String(i).padStart(2, '0')}`);
    await Promise.all(ids.map((id) => steps.save(stepOf('acme', runId, id, { status: 'succeeded', output }))));
    const client = new DynamoDBClient(env.emulators.aws.dynamodb!);
    let queries = 0;
    client.middlewareStack.add((next, context) => async (args) => {
      if (context.commandName === 'QueryCommand') queries += 1;
      return next(args);
    });
    const listed = await new DynamoDbStepStore(client, env.gatewayEnv[ENV.tasksTable]!).list('acme', runId);
    expect(queries).toBeGreaterThan(1);
    expect(listed.map((s) => s.stepId)).toEqual(ids);
    expect(listed.every((s) => (s.output as { text: string }).text.length === 40_000)).toBe(true);
  });

  it('keeps steps out of the task repository: get and list of the tenant see only the run', async () => {
    const tenant = 'steps-hidden';
    const run = runOf(tenant);
    await env.tasks.create(run);
    await steps.save(stepOf(tenant, run.taskId, 'first', { status: 'succeeded', output: { a: 1 } }));
    await steps.save(stepOf(tenant, run.taskId, 'second'));
    expect(await env.tasks.get(tenant, run.taskId)).toEqual(run);
    expect((await env.tasks.list(tenant, { limit: 10 })).tasks.map((t) => t.taskId)).toEqual([run.taskId]);
    expect((await env.tasks.list(tenant, { limit: 10, status: 'running' })).tasks.map((t) => t.taskId)).toEqual([run.taskId]);
    // A run with its steps is still updated as one item.
    const updated = await env.tasks.update(run, { status: 'succeeded', result: { done: true } }, new Date());
    expect(updated.version).toBe(1);
    expect(await steps.list(tenant, run.taskId)).toHaveLength(2);
  });
});
