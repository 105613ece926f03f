import { McpServer } from '@modelcontextprotocol/server';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { apiGatewayFetch, toProxyEvent, type VerifiedCaller } from '../../bin/harness/api-gateway-fetch';
import { silentLogger } from '../../bin/harness/in-memory';
import { connectV1, connectV2 } from '../../bin/harness/mcp-clients';
import { createApiGateway } from '../../bin/local-cloud/api-gateway';
import type { LocalFunctions } from '../../bin/local-cloud/functions';
import { LOCAL_ACCOUNT } from '../../bin/local-cloud/provision';
import { TemplateResolver } from '../../bin/local-cloud/resolver';
import { apiGatewayGatewayResponse } from '../../bin/local-cloud/resources/api-gateway-gateway-response';
import { apiGatewayMethod } from '../../bin/local-cloud/resources/api-gateway-method';
import { RESOURCE_HANDLERS } from '../../bin/local-cloud/resources/registry';
import { defaultIdentity, physicalName, type ProvisionContext } from '../../bin/local-cloud/resources/resource-handler';
import { readProjectConfig, synthesizeTemplates } from '../../bin/local-cloud/synth';
import { ALL_SCOPES, FORBIDDEN, PRM_PATH, resourceMetadataUrlOf, scopeOf, UNAUTHORIZED } from '../../lambdas/contracts';
import type { Principal } from '../../lambdas/domain/principal';
import { makeHandler } from '../../lambdas/mcp-gateway/handler';
import { createMcpEndpoint } from '../../lambdas/mcp-gateway/mcp-endpoint';

const RESOURCE = 'https://abc123.execute-api.us-east-1.amazonaws.com/v1/mcp';
const PRM_URL = 'https://abc123.execute-api.us-east-1.amazonaws.com/v1/.well-known/oauth-protected-resource/mcp';
const alice: Principal = { tenantId: 'acme', subject: 'alice', roles: ['admin'] };

/** The gateway's Lambda handler over a server with two tools of two scope families. */
const gateway = () => {
  const seen: Principal[] = [];
  const factory = ({ principal }: { principal: Principal }) => {
    seen.push(principal);
    const server = new McpServer({ name: 'resource-server-test', version: '1.0.0' });
    const tool = (name: string) =>
      server.registerTool(name, { description: name, inputSchema: z.object({ taskId: z.string() }) }, async ({ taskId }) => ({
        content: [{ type: 'text' as const, text: `${name} ${taskId}` }],
      }));
    tool('get_task');
    tool('submit_task');
    return server;
  };
  const endpoint = createMcpEndpoint(factory, { maxBodyBytes: 64 * 1024, logger: silentLogger, resource: RESOURCE });
  return { handler: makeHandler({ endpoint, logger: silentLogger, resource: RESOURCE }), seen };
};

const call = (name: string, id: number | string = 7) =>
  new Request(RESOURCE, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { taskId: 't1' } } }),
  });
const send = async (request: Request, caller: VerifiedCaller | undefined) => {
  const result = await gateway().handler(await toProxyEvent(request, caller));
  const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return { status: result.statusCode, headers, body: JSON.parse(result.body) as { id: unknown; error?: { code: number; message: string }; result?: unknown } };
};

describe('the MCP endpoint as an OAuth resource server', () => {
  it('places the metadata of a resource before its /mcp path, after any stage prefix, and refuses a resource that is not /mcp', () => {
    expect(resourceMetadataUrlOf(RESOURCE)).toBe(PRM_URL);
    expect(resourceMetadataUrlOf('http://127.0.0.1:4010/mcp')).toBe(`http://127.0.0.1:4010${PRM_PATH}/mcp`);
    expect(() => resourceMetadataUrlOf('https://mcp.example.com/')).toThrow(/must end with \/mcp/);
  });

  it('answers 401 with a Bearer challenge naming the metadata URL when the authorizer passed no caller', async () => {
    const answer = await send(call('get_task'), undefined);
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toBe(`Bearer resource_metadata="${PRM_URL}"`);
    expect(answer.body.error).toEqual({ code: UNAUTHORIZED.code, message: UNAUTHORIZED.message });
  });

  it('answers 401 when the authorizer context carries no scopes (an authorizer of the old contract)', async () => {
    const event = await toProxyEvent(call('get_task'), alice);
    delete (event.requestContext.authorizer as Record<string, unknown>)['scopes'];
    expect((await gateway().handler(event)).statusCode).toBe(401);
  });

  it('answers a tool call without its family\'s scope with 403 insufficient_scope, naming the scope, with the request id', async () => {
    const answer = await send(call('submit_task', 'req-9'), { ...alice, scopes: [scopeOf('tasks.read')] });
    expect(answer.status).toBe(403);
    expect(answer.headers['www-authenticate']).toBe(
      `Bearer error="insufficient_scope", scope="switchboard/tasks.write", resource_metadata="${PRM_URL}", error_description="the token lacks scope switchboard/tasks.write"`,
    );
    expect(answer.body).toEqual({
      jsonrpc: '2.0',
      id: 'req-9',
      error: { code: FORBIDDEN.code, message: 'Forbidden: insufficient_scope: tool submit_task requires scope switchboard/tasks.write' },
    });
  });

  it('lets a tool call through with its family\'s scope', async () => {
    const answer = await send(call('get_task'), { ...alice, scopes: [scopeOf('tasks.read')] });
    expect(answer.status).toBe(200);
    expect(answer.body.result).toMatchObject({ content: [{ type: 'text', text: 'get_task t1' }] });
  });

  it('leaves a name that is no tool to the server, which says so (no scope would help)', async () => {
    const answer = await send(call('no_such_tool'), { ...alice, scopes: [] });
    expect(answer.status).toBe(200);
    expect(answer.headers['www-authenticate']).toBeUndefined();
    expect(JSON.stringify(answer.body)).toMatch(/no_such_tool/);
    expect(JSON.stringify(answer.body)).not.toMatch(/insufficient_scope/);
  });

  it('passes the principal to the tools, never the token', async () => {
    const { handler, seen } = gateway();
    const event = await toProxyEvent(call('get_task'), { ...alice, clientId: 'inspector' });
    event.headers['Authorization'] = 'Bearer secret.token.value';
    expect((await handler(event)).statusCode).toBe(200);
    expect(seen).toEqual([alice]);
  });

  it('lets real clients of both eras call within their scopes and refuses beyond them', async () => {
    const readOnly = { ...alice, scopes: [scopeOf('tasks.read')] };
    for (const client of [
      await connectV1(RESOURCE, 'token', apiGatewayFetch(gateway().handler, readOnly)),
      await connectV2(RESOURCE, 'token', '2025-11-25', apiGatewayFetch(gateway().handler, readOnly)),
      await connectV2(RESOURCE, 'token', '2026-07-28', apiGatewayFetch(gateway().handler, readOnly)),
    ]) {
      expect((await client.callTool('get_task', { taskId: 't1' })).isError).toBeFalsy();
      await expect(client.callTool('submit_task', { taskId: 't1' })).rejects.toThrow(/switchboard\/tasks\.write/);
      await client.close();
    }
  });
});

describe('the local API Gateway as the resource server\'s edge (npm start)', () => {
  const BASE = 'http://127.0.0.1:4010';
  const PRM = { resource: `${BASE}/mcp`, authorization_servers: ['https://auth.example.com/'], scopes_supported: [...ALL_SCOPES], bearer_methods_supported: ['header'], resource_name: 'Switchboard MCP endpoint' };
  let server: Server;
  let url: string;
  const invoked: string[] = [];

  beforeAll(async () => {
    // The templates as npm start synthesizes them: the resource at the local base URL, no Cognito (a local issuer instead).
    const project = readProjectConfig();
    const { cognito: _cognito, ...auth } = project.auth;
    const stacks = synthesizeTemplates({ ...project, auth: { ...auth, resource: `${BASE}/mcp`, issuers: [auth.issuers[0]!] } });
    const resources = stacks.flatMap(({ stackName, template }) => Object.entries(template.Resources).map(([id, resource]) => ({ stackName, id, resource })));
    const platform = { functions: new Map(), routes: [], gatewayResponses: new Map(), eventSources: [], schedules: [], tables: [], queues: new Map(), usagePlans: new Map(), stateMachines: [] };
    const ctx: ProvisionContext = {
      resolver: new TemplateResolver(stacks, { region: 'us-east-1', accountId: LOCAL_ACCOUNT }),
      aws: { sqs: { endpoint: 'http://127.0.0.1:9' } },
      region: 'us-east-1',
      accountId: LOCAL_ACCOUNT,
      log: () => undefined,
      resources,
      platform,
    };
    // The functions by their local names only: no function runs here (the authorizer is faked below).
    for (const r of resources) if (r.resource.Type === 'AWS::Lambda::Function') platform.functions.set(physicalName(r.stackName, r.id), {});
    for (const r of resources) ctx.resolver.define(r.stackName, r.id, (RESOURCE_HANDLERS.get(r.resource.Type)?.identity ?? defaultIdentity)(ctx, r));
    for (const handler of [apiGatewayMethod, apiGatewayGatewayResponse]) await handler.provision(ctx, resources.filter((r) => r.resource.Type === handler.type));
    const functions = {
      invoke: async (name: string) => {
        invoked.push(name);
        throw new Error('Unauthorized');
      },
    } as unknown as LocalFunctions;
    const gateway = createApiGateway(platform, functions, 'us-east-1');
    server = createServer((req, res) => {
      void gateway(req, res, new URL(req.url ?? '/', BASE)).then((served) => served || (res.writeHead(404), res.end()));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);
  afterAll(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('serves the metadata from the template\'s MOCK integrations, at the root (no stage prefix) and its /mcp form, without a token', async () => {
    for (const path of [PRM_PATH, `${PRM_PATH}/mcp`]) {
      const response = await fetch(`${url}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
      expect(await response.json()).toEqual(PRM);
    }
    expect(invoked).toEqual([]);
  });

  it('answers a missing or refused token with the template\'s 401 and its challenge naming the local metadata URL', async () => {
    const missing = await fetch(`${url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const refused = await fetch(`${url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer a.b.c' }, body: '{}' });
    for (const response of [missing, refused]) {
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${BASE}${PRM_PATH}/mcp"`);
      expect((await response.json()) as unknown).toMatchObject({ error: { code: UNAUTHORIZED.code } });
    }
    expect(invoked).toHaveLength(1);
  });
});
