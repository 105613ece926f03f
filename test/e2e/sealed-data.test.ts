import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCloud, type LocalCloud } from '../../bin/local-cloud/cloud';
import { connectV1, waitForTerminal } from '../../bin/harness/mcp-clients';

/**
 * Envelope encryption end to end on `npm start` (the local envelope on its key file, LOCAL ONLY):
 * `echo` is mapped to the sensitive level `restricted`, a task's input carries a marker, and once
 * the task succeeded its owner reads the plaintext back while the marker is in no raw item of any
 * table and in no line the functions logged at DEBUG.
 */
const MARKER = `SEALED-MARKER-${Date.now().toString(36)}`;
const captured: string[] = [];
let restore: (() => void) | undefined;
let cloud: LocalCloud;

/** Everything written to stdout and stderr while the cloud runs (the functions' Powertools logs go there). */
const capture = () => {
  const writes = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  const tap = (write: typeof process.stdout.write) =>
    ((chunk: unknown, ...rest: unknown[]) => {
      captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stdout.write;
  process.stdout.write = tap(writes.out);
  process.stderr.write = tap(writes.err);
  return () => {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
  };
};

beforeAll(async () => {
  restore = capture();
  cloud = await startLocalCloud({
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), 'switchboard-sealed-')),
    inMemory: true,
    log: (message) => captured.push(message),
    logLevel: 'DEBUG',
    adjustConfig: (config) => ({ ...config, classifications: { ...config.classifications, capabilities: { ...config.classifications.capabilities, echo: 'restricted' } } }),
  });
}, 60_000);
afterAll(async () => {
  await cloud?.stop();
  restore?.();
});

/** Every item of every table of the local cloud, as the emulator returns it (binary attributes as latin1 text). */
const rawTables = async (): Promise<{ items: number; text: string }> => {
  const dynamodb = new DynamoDBClient(cloud.aws.dynamodb ?? {});
  const items: unknown[] = [];
  for (const table of cloud.platform.tables) {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await dynamodb.send(new ScanCommand({ TableName: table, ...(start ? { ExclusiveStartKey: start as never } : {}) }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
  }
  dynamodb.destroy();
  return { items: items.length, text: JSON.stringify(items, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : value)) };
};

describe('sensitive task data through npm start', () => {
  it('returns the plaintext to its owner, while neither the raw tables nor the DEBUG logs hold it', async () => {
    const owner = await connectV1(cloud.mcpUrl, await cloud.token({ tenant: 'acme', roles: ['submitter'], subject: 'sealer@acme' }));
    const input = { note: MARKER, nested: { list: [MARKER, 1] } };

    const submitted = (await owner.callTool('submit_task', { capability: 'echo', input })).structuredContent as { taskId: string };
    await waitForTerminal(owner, submitted.taskId);
    const read = (await owner.callTool('get_task', { taskId: submitted.taskId })).structuredContent as { status: string; result: unknown };
    const listed = (await owner.callTool('list_tasks', { limit: 5 })).structuredContent as { tasks: { taskId: string; result?: unknown }[] };
    await owner.close();

    expect(read).toMatchObject({ status: 'succeeded', result: input });
    expect(listed.tasks.find((t) => t.taskId === submitted.taskId)?.result).toEqual(input);
    const tables = await rawTables();
    expect(tables.text).toContain(submitted.taskId);
    expect(tables.text).toContain('"classification":{"S":"restricted"}');
    expect(tables.text.includes(MARKER)).toBe(false);
    const logs = captured.join('');
    // The capture works: the gateway and the worker logged this very task (as JSON lines, at DEBUG and up).
    expect(logs).toMatch(new RegExp(`"message":"task submitted"[^\\n]*"taskId":"${submitted.taskId}"`));
    expect(logs).toMatch(new RegExp(`"message":"task succeeded"[^\\n]*"taskId":"${submitted.taskId}"`));
    expect(logs.includes(MARKER)).toBe(false);
  }, 30_000);

  it('seals a run of a workflow whose steps are sensitive, and its step records, shown whole to its owner', async () => {
    const owner = await connectV1(cloud.mcpUrl, await cloud.token({ tenant: 'acme', roles: ['submitter'], subject: 'sealer@acme' }));
    const run = (await owner.callTool('start_workflow', { workflow: 'triage', input: { text: MARKER, priority: 'low', customer: 'c-1' } })).structuredContent as { taskId: string };

    const done = (await waitForTerminal(owner, run.taskId)) as { status: string; steps?: { stepId: string; output?: unknown }[] };
    await owner.close();

    expect(done.status).toBe('succeeded');
    expect(done.steps?.find((step) => step.stepId === 'classify')?.output).toMatchObject({ text: MARKER });
    const tables = await rawTables();
    expect(tables.text).toContain(`STEP#classify`);
    expect(tables.text.includes(MARKER)).toBe(false);
  }, 30_000);

  it('shows another tenant nothing of it', async () => {
    const owner = await connectV1(cloud.mcpUrl, await cloud.token({ tenant: 'acme', roles: ['submitter'], subject: 'sealer@acme' }));
    const { taskId } = (await owner.callTool('submit_task', { capability: 'echo', input: { note: MARKER } })).structuredContent as { taskId: string };
    await waitForTerminal(owner, taskId);
    await owner.close();
    const other = await connectV1(cloud.mcpUrl, await cloud.token({ tenant: 'globex', roles: ['submitter'], subject: 'x@globex' }));

    const answer = await other.callTool('get_task', { taskId });
    await other.close();

    expect(answer.isError).toBe(true);
    expect(JSON.stringify(answer.content)).toContain('NOT_FOUND');
    expect(JSON.stringify(answer).includes(MARKER)).toBe(false);
  }, 30_000);
});
