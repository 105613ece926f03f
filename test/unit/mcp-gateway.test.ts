import type { TenantQuota } from '../../lambdas/domain/ports';
import { describe, expect, it, vi } from 'vitest';
import { McpServer } from '@modelcontextprotocol/server';
import { createToolsServer } from '../../lambdas/mcp-gateway/tools';
import { edgeErrorBody, TOOL_SCOPES, UNAUTHORIZED } from '../../lambdas/contracts';
import { principal } from '../../bin/harness/in-memory';
import type { Role } from '../../lambdas/domain/principal';
import { apiGatewayFetch, toProxyEvent, type EventStyle } from '../../bin/harness/api-gateway-fetch';
import { gatewayWithFakes } from '../../bin/harness/in-memory-gateway';
import { connectV1, connectV2, type ToolClient } from '../../bin/harness/mcp-clients';

const URL_ = 'https://abc123.execute-api.us-east-1.amazonaws.com/v1/mcp';
/** What tools/list shows a submitter (the access policy of lib/policies decides). */
const TOOLS = ['cancel_task', 'get_task', 'list_agents', 'list_tasks', 'start_workflow', 'submit_task'];
const READ = ['get_task', 'list_agents', 'list_tasks'];
const TOOLS_BY_ROLE: [Role, string[]][] = [
  ['viewer', READ],
  ['submitter', TOOLS],
  ['approver', ['approve_task', ...READ, 'reject_task']],
  ['auditor', [...READ, 'list_role_grants', 'query_audit', 'verify_audit'].sort()],
  ['agent', ['claim_task', 'complete_task', 'fail_task', 'heartbeat_task']],
  ['operator', ['deregister_agent', 'redrive_dead_letters', 'register_agent']],
  ['admin', ['approve_task', 'cancel_task', 'grant_role', 'list_role_grants', ...READ, 'redrive_dead_letters', 'reject_task', 'revoke_role', 'start_workflow', 'submit_task'].sort()],
];

const clients: [string, (fetch: ReturnType<typeof apiGatewayFetch>) => Promise<ToolClient>][] = [
  ['v1 SDK client, 2025-11-25', (fetch) => connectV1(URL_, 'token', fetch)],
  ['v2 SDK client, 2025-11-25', (fetch) => connectV2(URL_, 'token', '2025-11-25', fetch)],
  ['v2 SDK client, 2026-07-28', (fetch) => connectV2(URL_, 'token', '2026-07-28', fetch)],
];
const styles: [string, EventStyle][] = [
  ['plain events', {}],
  ['upper-case headers and base64 bodies', { upperCaseHeaders: true, base64Body: true }],
];

describe('MCP gateway Lambda behind API Gateway', () => {
  for (const [clientName, connect] of clients) {
    for (const [styleName, style] of styles) {
      it(`${clientName} (${styleName}): lists the tools and completes an echo task`, async () => {
        const gateway = gatewayWithFakes();
        const client = await connect(apiGatewayFetch(gateway.handler, principal(), style));
        const { tools } = await client.listTools();
        expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);

        const submitted = await client.callTool('submit_task', { capability: 'echo', input: { say: 'hi' } });
        expect(submitted.isError).toBeFalsy();
        const { taskId, status, priority } = submitted.structuredContent as { taskId: string; status: string; priority: string };
        expect([status, priority]).toEqual(['queued', 'normal']);

        await gateway.runQueued();
        const read = await client.callTool('get_task', { taskId });
        expect(read.structuredContent).toMatchObject({ taskId, status: 'succeeded', result: { say: 'hi' }, capability: 'echo' });
        await client.close();
      });
    }
  }

  it('really speaks each era on the wire: initialize for 2025-11-25, envelope headers for 2026-07-28', async () => {
    const gateway = gatewayWithFakes();
    const seen: { method: string; version: string | null }[] = [];
    const inner = apiGatewayFetch(gateway.handler, principal());
    const recording = async (input: string | URL | Request, init?: RequestInit) => {
      const request = new Request(input, init);
      const body = (await request.clone().json()) as { method: string };
      seen.push({ method: body.method, version: request.headers.get('mcp-protocol-version') });
      return inner(request);
    };
    await (await connectV2(URL_, 't', '2026-07-28', recording)).listTools();
    expect(seen.map((s) => s.method)).not.toContain('initialize');
    expect(seen.find((s) => s.method === 'tools/list')?.version).toBe('2026-07-28');
    seen.length = 0;
    await (await connectV1(URL_, 't', recording)).listTools();
    expect(seen[0]?.method).toBe('initialize');
    expect(seen.find((s) => s.method === 'tools/list')?.version).toBe('2025-11-25');
    seen.length = 0;
    await (await connectV2(URL_, 't', '2025-11-25', recording)).listTools();
    expect(seen[0]?.method).toBe('initialize');
    expect(seen.find((s) => s.method === 'tools/list')?.version).toBe('2025-11-25');
  });

  it('serves one store to both eras: submitted in 2026-07-28, read and cancelled in 2025-11-25', async () => {
    const gateway = gatewayWithFakes();
    const fetch = apiGatewayFetch(gateway.handler, principal());
    const modern = await connectV2(URL_, 't', '2026-07-28', fetch);
    const legacy = await connectV1(URL_, 't', fetch);
    const { taskId } = (await modern.callTool('submit_task', { capability: 'echo', input: 1 })).structuredContent as { taskId: string };
    expect((await legacy.callTool('get_task', { taskId })).structuredContent).toMatchObject({ status: 'queued' });
    expect((await legacy.callTool('cancel_task', { taskId })).structuredContent).toEqual({ taskId, status: 'cancelled' });
    expect((await modern.callTool('get_task', { taskId })).structuredContent).toMatchObject({ status: 'cancelled' });
  });

  it('hides another tenant\'s task as not found, in list and get', async () => {
    const gateway = gatewayWithFakes();
    const acme = await connectV2(URL_, 't', '2026-07-28', apiGatewayFetch(gateway.handler, principal('acme')));
    const globex = await connectV2(URL_, 't', '2026-07-28', apiGatewayFetch(gateway.handler, principal('globex')));
    const { taskId } = (await acme.callTool('submit_task', { capability: 'echo', input: 1 })).structuredContent as { taskId: string };
    const stolen = await globex.callTool('get_task', { taskId });
    expect(stolen.isError).toBe(true);
    expect(JSON.stringify(stolen.content)).toContain('NOT_FOUND');
    expect((await globex.callTool('list_tasks', {})).structuredContent).toEqual({ tasks: [] });
  });

  for (const [clientName, connect] of clients) {
    it(`${clientName}: tools/list shows each role only the tools it may call; a call outside them answers FORBIDDEN naming the permission`, async () => {
      const gateway = gatewayWithFakes();
      for (const [role, tools] of TOOLS_BY_ROLE) {
        const client = await connect(apiGatewayFetch(gateway.handler, principal('acme', [role])));
        expect((await client.listTools()).tools.map((t) => t.name).sort(), role).toEqual(tools);
        await client.close();
      }
      const viewer = await connect(apiGatewayFetch(gateway.handler, principal('acme', ['viewer'])));
      const denied = await viewer.callTool('submit_task', { capability: 'echo', input: 1 });
      expect(denied.isError).toBe(true);
      expect(JSON.stringify(denied.content)).toContain('FORBIDDEN: submit_task is not permitted for roles viewer');
      const submitter = await connect(apiGatewayFetch(gateway.handler, principal('acme', ['submitter'])));
      const critical = await submitter.callTool('submit_task', { capability: 'echo', input: 1, priority: 'critical' });
      expect(JSON.stringify(critical.content)).toContain(
        'FORBIDDEN: submit_task with capability echo, priority critical is not permitted for roles submitter (critical-priority-admin-only)',
      );
      expect(gateway.deps.queue.sent).toHaveLength(0);
    });
  }

  it('reports domain errors as tool errors with their code', async () => {
    const gateway = gatewayWithFakes();
    const client = await connectV1(URL_, 't', apiGatewayFetch(gateway.handler, principal('acme', ['viewer'])));
    const forbidden = await client.callTool('submit_task', { capability: 'echo', input: 1 });
    expect(JSON.stringify(forbidden.content)).toContain('FORBIDDEN');
    const unknown = await (await connectV1(URL_, 't', apiGatewayFetch(gateway.handler, principal()))).callTool('submit_task', {
      capability: 'translate',
      input: 1,
    });
    expect(unknown.isError).toBe(true);
    expect(JSON.stringify(unknown.content)).toContain('UNKNOWN_CAPABILITY');
  });

  for (const [clientName, connect] of clients) {
    it(`${clientName}: a submit over the tenant's quota is a QUOTA_EXCEEDED tool error with retryAfterSeconds in _meta, and creates nothing`, async () => {
      const refuse = (decision: Awaited<ReturnType<TenantQuota['admitSubmit']>>): TenantQuota => ({
        admitSubmit: async () => decision,
        releaseInFlight: async () => undefined,
        occupyInFlight: async () => undefined,
      });
      const gateway = gatewayWithFakes({ quota: refuse({ admitted: false, limit: 'rate', retryAfterSeconds: 3 }) });
      const client = await connect(apiGatewayFetch(gateway.handler, principal()));
      const result = await client.callTool('submit_task', { capability: 'echo', input: 1 });
      expect(result.isError).toBe(true);
      expect(result._meta).toMatchObject({ code: 'QUOTA_EXCEEDED', retryAfterSeconds: 3 });
      expect(JSON.stringify(result.content)).toContain('QUOTA_EXCEEDED: your tenant\'s submit rate quota is used up; retry after 3 s');
      expect(gateway.deps.tasks.items.size).toBe(0);

      const full = gatewayWithFakes({ quota: refuse({ admitted: false, limit: 'inFlight', maxInFlight: 5, retryAfterSeconds: 2 }) });
      const client2 = await connect(apiGatewayFetch(full.handler, principal()));
      const refused = await client2.callTool('submit_task', { capability: 'echo', input: 1 });
      expect(refused._meta).toMatchObject({ code: 'QUOTA_EXCEEDED', retryAfterSeconds: 2 });
      expect(JSON.stringify(refused.content)).toContain('QUOTA_EXCEEDED: your tenant has 5 tasks in flight, its most; retry after 2 s');
      expect(full.deps.tasks.items.size).toBe(0);
    });
  }

  it('rejects arguments outside the strict schema without creating a task', async () => {
    const gateway = gatewayWithFakes();
    const client = await connectV2(URL_, 't', '2026-07-28', apiGatewayFetch(gateway.handler, principal()));
    const result = await client.callTool('submit_task', { capability: 'echo', input: 1, tenantId: 'globex' });
    expect(result.isError).toBe(true);
    expect(gateway.deps.tasks.items.size).toBe(0);
  });
});

describe('MCP gateway edge rules', () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    new Request(URL_, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body,
    });
  const call = async (request: Request, who = principal(), options = {}) => {
    const { handler } = gatewayWithFakes(options);
    const result = await handler(await toProxyEvent(request, who));
    return { ...result, json: result.body ? JSON.parse(result.body) : undefined };
  };
  const initialize = JSON.stringify({
    jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
  });

  it('answers 401 with a Bearer challenge when the authorizer context is missing', async () => {
    const { handler } = gatewayWithFakes();
    const result = await handler(await toProxyEvent(post(initialize), undefined));
    expect(result.statusCode).toBe(401);
    expect(result.headers?.['www-authenticate']).toMatch(/^Bearer /);
    // The same body as API Gateway's UNAUTHORIZED gateway response (one JSON-RPC code everywhere).
    expect(JSON.parse(result.body)).toEqual(JSON.parse(edgeErrorBody(UNAUTHORIZED)));
  });

  it('answers malformed JSON with a JSON-RPC parse error, not a 500', async () => {
    const result = await call(post('{"jsonrpc": "2.0", "id": 1,'));
    expect(result.statusCode).toBe(400);
    expect(result.json.error.code).toBe(-32700);
  });

  it('rejects a JSON value that is not a JSON-RPC message', async () => {
    const result = await call(post('"hello"'));
    expect(result.statusCode).toBe(400);
    expect(result.json.error.code).toBe(-32600);
  });

  it('rejects batches', async () => {
    const result = await call(post(`[${initialize}]`));
    expect([result.statusCode, result.json.error.code]).toEqual([400, -32600]);
  });

  it('answers GET and DELETE with 405 and Allow: POST', async () => {
    for (const method of ['GET', 'DELETE']) {
      const result = await call(new Request(URL_, { method }));
      expect(result.statusCode).toBe(405);
      expect(result.headers?.['allow']).toBe('POST');
    }
  });

  const META = (version = '2026-07-28') => ({
    'io.modelcontextprotocol/protocolVersion': version,
    'io.modelcontextprotocol/clientCapabilities': {},
    'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
  });
  const modern = (method: string, params: Record<string, unknown>, headers: Record<string, string>) =>
    post(JSON.stringify({ jsonrpc: '2.0', id: 9, method, params }), { 'mcp-method': method, ...headers });

  it('answers an unsupported protocol version with 400, -32022 and the supported versions', async () => {
    const result = await call(modern('tools/list', { _meta: META('2099-01-01') }, { 'mcp-protocol-version': '2099-01-01' }));
    expect(result.statusCode).toBe(400);
    expect(result.json.error).toMatchObject({ code: -32022, data: { supported: ['2026-07-28'] } });
  });

  it('answers a header/body mismatch with 400 and -32020', async () => {
    const version = await call(modern('tools/list', { _meta: META() }, { 'mcp-protocol-version': '2025-11-25' }));
    expect([version.statusCode, version.json.error.code]).toEqual([400, -32020]);
    const method = await call(modern('tools/list', { _meta: META() }, { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call' }));
    expect([method.statusCode, method.json.error.code]).toEqual([400, -32020]);
    const name = await call(
      modern('tools/call', { name: 'get_task', arguments: {}, _meta: META() }, { 'mcp-protocol-version': '2026-07-28' }),
    );
    expect([name.statusCode, name.json.error.code]).toEqual([400, -32020]);
  });

  it('answers an unknown method with -32601: HTTP 404 in the 2026 era, in-band in the 2025 era', async () => {
    const modernResult = await call(modern('foo/bar', { _meta: META() }, { 'mcp-protocol-version': '2026-07-28' }));
    expect([modernResult.statusCode, modernResult.json.error.code]).toEqual([404, -32601]);
    const legacyResult = await call(post(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'foo/bar', params: {} })));
    expect([legacyResult.statusCode, legacyResult.json.error.code]).toEqual([200, -32601]);
  });

  it('answers an Accept that rules out JSON with 406, in both eras', async () => {
    expect((await call(post(initialize, { accept: 'text/html' }))).statusCode).toBe(406);
    expect((await call(modern('tools/list', { _meta: META() }, { 'mcp-protocol-version': '2026-07-28', accept: 'text/html' }))).statusCode).toBe(406);
    // 2025 clients must also accept text/event-stream (the SDK's own rule).
    expect((await call(post(initialize, { accept: 'application/json' }))).statusCode).toBe(406);
  });

  it('answers server/discover with the 2026 versions and tools.listChanged false', async () => {
    const result = await call(modern('server/discover', { _meta: META() }, { 'mcp-protocol-version': '2026-07-28' }));
    expect(result.statusCode).toBe(200);
    expect(result.json.result).toMatchObject({ supportedVersions: ['2026-07-28'], capabilities: { tools: { listChanged: false } } });
  });

  it('answers a non-JSON content type with 415', async () => {
    expect((await call(post(initialize, { 'content-type': 'text/plain' }))).statusCode).toBe(415);
  });

  it('answers a body over the limit with 413', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(2048) } });
    expect((await call(post(big), principal(), { maxBodyBytes: 1024 })).statusCode).toBe(413);
  });

  it('refuses subscriptions/listen clearly', async () => {
    const result = await call(post(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'subscriptions/listen', params: {} })));
    expect(result.statusCode).toBe(400);
    expect(result.json).toMatchObject({ id: 7, error: { code: -32601 } });
  });

  it('rejects a Host outside the allow-list when one is configured', async () => {
    const evil = await call(post(initialize, { host: 'evil.example' }), principal(), { allowedHosts: ['localhost', 'abc123.execute-api.us-east-1.amazonaws.com'] });
    expect(evil.statusCode).toBe(403);
    const own = await call(post(initialize), principal(), { allowedHosts: ['abc123.execute-api.us-east-1.amazonaws.com'] });
    expect(own.statusCode).toBe(200);
  });

  it('rejects an Origin whose host is not allowed, and accepts one that is', async () => {
    const local = (origin: string) =>
      new Request('http://localhost:3000/mcp', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', origin },
        body: initialize,
      });
    expect((await call(local('http://evil.example'), principal(), { allowedHosts: ['localhost'] })).statusCode).toBe(403);
    expect((await call(local('http://localhost:5173'), principal(), { allowedHosts: ['localhost'] })).statusCode).toBe(200);
  });

  it('accepts logging/setLevel from a 2025-era client', async () => {
    const result = await call(post(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'logging/setLevel', params: { level: 'info' } })));
    expect(result.statusCode).toBe(200);
    expect(result.json).toMatchObject({ id: 3, result: {} });
  });
});

describe('every tool has a scope family', () => {
  it('registers no tool that TOOL_SCOPES does not name (the endpoint lets a name that is no tool through to the server)', async () => {
    const registered: string[] = [];
    const spy = vi.spyOn(McpServer.prototype, 'registerTool').mockImplementation(function (this: McpServer, name: string) {
      registered.push(name);
      return undefined as never;
    });
    try {
      const { deps } = gatewayWithFakes();
      createToolsServer({ ...deps, pullCapabilities: ['external.review'] }, { principal: principal('acme', ['admin']), requestId: 'r1' });
    } finally {
      spy.mockRestore();
    }
    expect(registered.length).toBeGreaterThan(15);
    expect(registered.filter((name) => !Object.hasOwn(TOOL_SCOPES, name))).toEqual([]);
  });
});
