import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/constructs/switchboard-function';
import { startLocalCloudProcess, type LocalCloudProcess } from '../../bin/harness/local-cloud-process';
import { connectV1, connectV2, waitForTerminal, type ToolClient } from '../../bin/harness/mcp-clients';

const run = promisify(execFile);
let cloud: LocalCloudProcess;
let acmeToken: string;

beforeAll(async () => {
  cloud = await startLocalCloudProcess();
  acmeToken = await cloud.token('acme', 'submitter');
}, 90_000);
afterAll(() => cloud?.stop());

const clients: [string, () => Promise<ToolClient>][] = [
  ['the v1 SDK client (2025-11-25)', () => connectV1(cloud.mcpUrl, acmeToken)],
  ['the v2 SDK client pinned to 2026-07-28', () => connectV2(cloud.mcpUrl, acmeToken, '2026-07-28')],
  ['the v2 SDK client in the 2025-11-25 era', () => connectV2(cloud.mcpUrl, acmeToken, '2025-11-25')],
];

describe('npm start, driven over HTTP by MCP clients', () => {
  for (const [name, connect] of clients) {
    it(`${name}: submit → poll → succeeded with the echoed result`, async () => {
      const client = await connect();
      // A submitter sees the tools its role may call (lib/policies), no others.
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['cancel_task', 'get_task', 'list_agents', 'list_tasks', 'start_workflow', 'submit_task']);
      const input = { message: `hello from ${name}`, n: [1, 2, 3] };
      const submitted = await client.callTool('submit_task', { capability: 'echo', input, priority: 'high' });
      const { taskId } = submitted.structuredContent as { taskId: string };
      const task = await waitForTerminal(client, taskId);
      expect(task).toMatchObject({ status: 'succeeded', result: input });
      await client.close();
    });
  }

  it('keeps tenants apart: a second tenant cannot see or cancel the first one\'s task', async () => {
    const acme = await connectV2(cloud.mcpUrl, acmeToken, '2026-07-28');
    const globex = await connectV1(cloud.mcpUrl, await cloud.token('globex', 'admin'));
    const { taskId } = (await acme.callTool('submit_task', { capability: 'echo', input: 'secret' })).structuredContent as { taskId: string };
    for (const tool of ['get_task', 'cancel_task']) {
      const result = await globex.callTool(tool, { taskId });
      expect(result.isError).toBe(true);
      expect(JSON.stringify(result.content)).toContain('NOT_FOUND');
    }
    const listed = (await globex.callTool('list_tasks', {})).structuredContent as { tasks: { taskId: string }[] };
    expect(listed.tasks.map((t) => t.taskId)).not.toContain(taskId);
    expect((await waitForTerminal(acme, taskId)).status).toBe('succeeded');
  });

  it('returns the first task for a repeated idempotency key', async () => {
    const client = await connectV1(cloud.mcpUrl, acmeToken);
    const args = { capability: 'echo', input: 'once', idempotencyKey: 'e2e-key-1' };
    const first = (await client.callTool('submit_task', args)).structuredContent as { taskId: string };
    const second = (await client.callTool('submit_task', args)).structuredContent as { taskId: string };
    expect(second.taskId).toBe(first.taskId);
  });

  it('rejects an unknown capability at submit time with a clear error', async () => {
    const client = await connectV2(cloud.mcpUrl, acmeToken, '2026-07-28');
    const result = await client.callTool('submit_task', { capability: 'summarize', input: 'x' });
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toMatch(/UNKNOWN_CAPABILITY.*echo/);
  });
});

describe('npm start, at the HTTP edge', () => {
  const initialize = JSON.stringify({
    jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'curl', version: '1' } },
  });
  const post = (body: string, headers: Record<string, string>) =>
    fetch(cloud.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body });

  it('answers a missing token with 401 and WWW-Authenticate: Bearer', async () => {
    const response = await post(initialize, {});
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect((await response.json()).error.code).toBeTypeOf('number');
  });

  it('answers a bad token with 401 and WWW-Authenticate: Bearer', async () => {
    for (const token of ['nonsense', `${acmeToken.slice(0, -4)}AAAA`]) {
      const response = await post(initialize, { authorization: `Bearer ${token}` });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
    }
  });

  it('answers malformed JSON-RPC with a JSON-RPC error, not a 500', async () => {
    const response = await post('{"jsonrpc":"2.0","id":1,"method":', { authorization: `Bearer ${acmeToken}` });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 } });
  });

  it('lets the MCP Inspector CLI (a client nobody here wrote) list the tools and submit a task', async () => {
    const inspector = join(PROJECT_ROOT, 'node_modules', '.bin', 'mcp-inspector');
    const base = ['--cli', cloud.mcpUrl, '--transport', 'http', '--header', `Authorization: Bearer ${acmeToken}`];
    const listed = JSON.parse((await run(inspector, [...base, '--method', 'tools/list'])).stdout) as { tools: { name: string }[] };
    expect(listed.tools.map((t) => t.name)).toContain('submit_task');
    const called = JSON.parse(
      (await run(inspector, [...base, '--method', 'tools/call', '--tool-name', 'submit_task', '--tool-arg', 'capability=echo', '--tool-arg', 'input="from inspector"'])).stdout,
    ) as { structuredContent: { taskId: string } };
    const client = await connectV1(cloud.mcpUrl, acmeToken);
    expect(await waitForTerminal(client, called.structuredContent.taskId)).toMatchObject({ status: 'succeeded', result: 'from inspector' });
  });
});
