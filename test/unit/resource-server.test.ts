import { McpServer } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { apiGatewayFetch, toProxyEvent, type VerifiedCaller } from '../../bin/harness/api-gateway-fetch';
import { silentLogger } from '../../bin/harness/in-memory';
import { connectV1, connectV2 } from '../../bin/harness/mcp-clients';
import { FORBIDDEN, PRM_PATH, resourceMetadataUrlOf, scopeOf, UNAUTHORIZED } from '../../lambdas/contracts';
import type { Principal } from '../../lambdas/domain/principal';
import { makeHandler } from '../../lambdas/mcp-gateway/handler';
import { createMcpEndpoint } from '../../lambdas/mcp-gateway/mcp-endpoint';

const RESOURCE = 'https://abc123.execute-api.us-east-1.amazonaws.com/v1/mcp';
const PRM_URL = 'https://abc123.execute-api.us-east-1.amazonaws.com/v1/.well-known/oauth-protected-resource/mcp';
const alice: Principal = { tenantId: 'acme', subject: 'alice', roles: ['admin'] };

/** The gateway's Lambda handler over a server with two tools of two scope families and one tool of none. */
const gateway = () => {
  const seen: Principal[] = [];
  const factory = (principal: Principal) => {
    seen.push(principal);
    const server = new McpServer({ name: 'resource-server-test', version: '1.0.0' });
    const tool = (name: string) =>
      server.registerTool(name, { description: name, inputSchema: z.object({ taskId: z.string() }) }, async ({ taskId }) => ({
        content: [{ type: 'text' as const, text: `${name} ${taskId}` }],
      }));
    tool('get_task');
    tool('submit_task');
    tool('unlisted_tool');
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

  it('refuses a tool of no scope family whatever the token\'s scopes (403, no challenge: no scope would help)', async () => {
    const answer = await send(call('unlisted_tool'), { ...alice });
    expect(answer.status).toBe(403);
    expect(answer.headers['www-authenticate']).toBeUndefined();
    expect(answer.body.error?.code).toBe(FORBIDDEN.code);
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
