import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { startLocalCloud, type LocalCloud } from '../../bin/local-cloud/cloud';
import { connectV1Tasks, connectV2Tasks, rpcCodeOf } from '../../bin/harness/mcp-task-clients';

/**
 * MCP-native tasks on `npm start` (docs/protocol.md, "MCP tasks"): real clients of both SDKs follow
 * submit_task as an MCP task through the local API Gateway, the queues, the worker and dynalite.
 * `review` is a pull capability here: its tasks stay queued until an external agent claims one, so
 * there is always a live task to cancel.
 */
let cloud: LocalCloud;
const token = (tenant: string, roles: string[] = ['submitter']) => cloud.token({ tenant, roles, subject: `tasks@${tenant}` });

beforeAll(async () => {
  cloud = await startLocalCloud({
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), 'switchboard-mcp-tasks-')),
    inMemory: true,
    log: () => undefined,
    adjustConfig: (config) => ({ ...config, pullCapabilities: ['review'] }),
  });
}, 60_000);
afterAll(async () => {
  await cloud?.stop();
});

describe('MCP tasks through npm start', () => {
  it('v1 client, 2025-11-25: submit_task as a task, followed to its result with callToolStream', async () => {
    const client = await connectV1Tasks(cloud.mcpUrl, await token('acme'));
    await client.listTools();
    const seen: { type: string; status?: string }[] = [];
    let result: { structuredContent?: unknown; isError?: boolean } | undefined;
    const stream = client.experimental.tasks.callToolStream(
      { name: 'submit_task', arguments: { capability: 'echo', input: { say: 'as a task' } } },
      CallToolResultSchema,
      { task: { ttl: 300_000 } },
    );
    for await (const message of stream) {
      if (message.type === 'error') throw message.error;
      seen.push({ type: message.type, ...('task' in message ? { status: message.task.status } : {}) });
      if (message.type === 'result') result = message.result as typeof result;
    }
    await client.close();

    expect(seen[0]).toEqual({ type: 'taskCreated', status: 'working' });
    expect(seen.at(-2)).toEqual({ type: 'taskStatus', status: 'completed' });
    expect(seen.at(-1)?.type).toBe('result');
    expect(result?.isError).toBeFalsy();
    expect(result?.structuredContent).toMatchObject({ status: 'succeeded', result: { say: 'as a task' } });
  }, 30_000);

  it('v2 client, 2026-07-28: submit_task as a task, polled with tasks/get to the inlined result', async () => {
    const { callAsTask, request, waitForTerminal, client } = await connectV2Tasks(cloud.mcpUrl, await token('acme'));
    const handle = await callAsTask('submit_task', { capability: 'echo', input: { say: '2026' } });
    expect(handle).toMatchObject({ resultType: 'task', status: 'working', ttlMs: null, pollIntervalMs: 2000 });
    expect(handle).not.toHaveProperty('task');
    // Durable before the handle: an immediate tasks/get resolves it.
    expect(await request('tasks/get', { taskId: handle.taskId })).toMatchObject({ taskId: handle.taskId });
    const done = await waitForTerminal(handle.taskId);
    await client.close();
    expect(done).toMatchObject({ status: 'completed', result: { structuredContent: { status: 'succeeded', result: { say: '2026' } } } });
  }, 30_000);

  it('runs a workflow as a task: start_workflow followed through its steps to the run\'s outcome (2026)', async () => {
    const { callAsTask, request, waitForTerminal, client } = await connectV2Tasks(cloud.mcpUrl, await token('acme'));
    const handle = await callAsTask('start_workflow', { workflow: 'triage', input: { text: 'the printer is on fire', priority: 'low', customer: 'c-1' } });
    expect(handle).toMatchObject({ resultType: 'task', status: 'working' });
    const seen = new Set<string>();
    const until = Date.now() + 20_000;
    let task = await request('tasks/get', { taskId: handle.taskId });
    while (task['status'] === 'working' && Date.now() < until) {
      seen.add(String(task['statusMessage']));
      await new Promise((resolve) => setTimeout(resolve, 50));
      task = await request('tasks/get', { taskId: handle.taskId });
    }
    const done = task['status'] === 'working' ? await waitForTerminal(handle.taskId) : task;
    await client.close();
    expect(done).toMatchObject({ status: 'completed', result: { structuredContent: { taskId: handle.taskId, status: 'succeeded' } } });
    expect([...seen].every((message) => /^(queued at priority normal|workflow triage running(: steps? [\w, -]+)?)$/.test(message)), [...seen].join(' | ')).toBe(true);
  }, 30_000);

  it('cancels through tasks/cancel in both eras', async () => {
    const legacy = await connectV1Tasks(cloud.mcpUrl, await token('acme'));
    const { task } = await legacy.request(
      { method: 'tools/call', params: { name: 'submit_task', arguments: { capability: 'review', input: { doc: 1 } }, task: { ttl: 300_000 } } },
      CreateTaskResultSchema,
    );
    expect(await legacy.experimental.tasks.cancelTask(task.taskId)).toMatchObject({ taskId: task.taskId, status: 'cancelled' });
    expect(await legacy.experimental.tasks.getTask(task.taskId)).toMatchObject({ status: 'cancelled' });
    expect(await rpcCodeOf(legacy.experimental.tasks.cancelTask(task.taskId))).toBe(-32602);
    await legacy.close();

    const modern = await connectV2Tasks(cloud.mcpUrl, await token('acme'));
    const handle = await modern.callAsTask('submit_task', { capability: 'review', input: { doc: 2 } });
    expect(await modern.request('tasks/cancel', { taskId: handle.taskId })).toEqual({});
    expect(await modern.request('tasks/get', { taskId: handle.taskId })).toMatchObject({ status: 'cancelled', statusMessage: 'cancelled' });
    expect(await modern.request('tasks/cancel', { taskId: handle.taskId })).toEqual({});
    await modern.client.close();
  }, 30_000);

  it('shows tenant B nothing of tenant A\'s task through any tasks/* method, in both eras', async () => {
    const owner = await connectV1Tasks(cloud.mcpUrl, await token('acme'));
    const { task } = await owner.request(
      { method: 'tools/call', params: { name: 'submit_task', arguments: { capability: 'review', input: { secret: 'acme only' } }, task: {} } },
      CreateTaskResultSchema,
    );
    const { taskId } = task;

    const legacy = await connectV1Tasks(cloud.mcpUrl, await token('globex'));
    expect(await rpcCodeOf(legacy.experimental.tasks.getTask(taskId))).toBe(-32602);
    expect(await rpcCodeOf(legacy.experimental.tasks.getTaskResult(taskId, CallToolResultSchema))).toBe(-32602);
    expect(await rpcCodeOf(legacy.experimental.tasks.cancelTask(taskId))).toBe(-32602);
    expect((await legacy.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).not.toContain(taskId);
    await legacy.close();

    const modern = await connectV2Tasks(cloud.mcpUrl, await token('globex'));
    expect(await rpcCodeOf(modern.request('tasks/get', { taskId }))).toBe(-32602);
    expect(await rpcCodeOf(modern.request('tasks/cancel', { taskId }))).toBe(-32602);
    expect(await rpcCodeOf(modern.request('tasks/update', { taskId, inputResponses: {} }))).toBe(-32602);
    await modern.client.close();

    // Untouched, and still the owner's.
    expect(await owner.experimental.tasks.getTask(taskId)).toMatchObject({ status: 'working', statusMessage: 'queued at priority normal' });
    expect((await owner.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).toContain(taskId);
    await owner.experimental.tasks.cancelTask(taskId);
    await owner.close();
  }, 30_000);
});
