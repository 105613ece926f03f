import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { MAX_INPUT_DEPTH } from '../../lambdas/domain/use-cases/submit-task';
import { principal } from '../../bin/harness/in-memory';
import { toProxyEvent } from '../../bin/harness/api-gateway-fetch';
import { gatewayWithFakes } from '../../bin/harness/in-memory-gateway';

const URL_ = 'https://abc123.execute-api.us-east-1.amazonaws.com/v1/mcp';
const API_HOST = 'abc123.execute-api.us-east-1.amazonaws.com';
const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
};
const post = (body: string, headers: Record<string, string> = {}) =>
  new Request(URL_, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body,
  });
/** A tools/call in either era, its arguments given as raw JSON text (JS objects cannot hold an own `__proto__`). */
const toolCall = (era: 'legacy' | 'modern', name: string, argumentsJson: string) =>
  era === 'legacy'
    ? post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"${name}","arguments":${argumentsJson}}}`)
    : post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"${name}","arguments":${argumentsJson},"_meta":${JSON.stringify(META)}}}`, {
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': name,
      });

const setup = () => {
  const gateway = gatewayWithFakes({ allowedHosts: [API_HOST] });
  const send = async (request: Request | APIGatewayProxyEvent) => {
    const event = request instanceof Request ? await toProxyEvent(request, principal()) : request;
    const result = await gateway.handler(event);
    return { ...result, json: result.body ? JSON.parse(result.body) : undefined };
  };
  return { gateway, send };
};

/** No internals in an answer: no stack frame, no source path, no raw schema dump. */
const expectNoInternals = (body: string) => {
  expect(body).not.toMatch(/\bat .+:\d+:\d+|node_modules|\/work\/|\.ts:\d|"code":\s*"invalid_type"|\\n\s+\{/);
};

describe('hostile requests at the gateway: a 4xx or a JSON-RPC error, never a 5xx, nothing written', () => {
  it('answers TRACE, TRACK and CONNECT (which a web Request cannot carry) with 405 and Allow: POST', async () => {
    const { send } = setup();
    for (const method of ['TRACE', 'TRACK', 'CONNECT', 'B@D']) {
      const event = await toProxyEvent(post('{}'), principal());
      const result = await send({ ...event, httpMethod: method, requestContext: { ...event.requestContext, httpMethod: method } });
      expect([method, result.statusCode, result.headers?.['allow']]).toEqual([method, 405, 'POST']);
    }
  });

  it('answers a Host with credentials or that is no host at all with 403, not a 502', async () => {
    const { send } = setup();
    for (const host of ['user@evil.example', `x@${API_HOST}`, `${API_HOST}@evil.example`, 'local host', '', 'localhost:abc', '%00', 'exa<mple', '[', `${API_HOST}:99999x`]) {
      const result = await send(post('{"jsonrpc":"2.0","id":1,"method":"ping"}', { host }));
      expect([host, result.statusCode]).toEqual([host, 403]);
      expectNoInternals(result.body);
    }
  });

  it('answers a header value a web Request refuses with 400', async () => {
    const { send } = setup();
    const event = await toProxyEvent(post('{}'), principal());
    const result = await send({ ...event, headers: { ...event.headers, 'x-bad': 'a\u0000b' }, multiValueHeaders: { ...event.multiValueHeaders, 'x-bad': ['a\u0000b'] } });
    expect(result.statusCode).toBe(400);
    expect(result.json.error.message).toMatch(/header x-bad/i);
  });

  for (const era of ['legacy', 'modern'] as const) {
    it(`${era} era: refuses "__proto__" among submit_task's arguments (and anywhere else), and writes nothing`, async () => {
      const { gateway, send } = setup();
      for (const args of ['{"capability":"echo","input":1,"__proto__":{}}', '{"capability":"echo","input":{"a":{"__proto__":{"x":1}}}}', '{"capability":"echo","input":1,"\\u005f_proto__":{}}']) {
        const result = await send(toolCall(era, 'submit_task', args));
        expect(result.statusCode).toBe(400);
        expect(result.json.error).toMatchObject({ code: -32600, message: expect.stringContaining('__proto__') });
      }
      const unknownKey = await send(toolCall(era, 'submit_task', '{"capability":"echo","input":1,"extra":{}}'));
      expect(unknownKey.json.result.isError).toBe(true);
      expect(gateway.deps.tasks.writes).toBe(0);
      const valid = await send(toolCall(era, 'submit_task', '{"capability":"echo","input":1}'));
      expect(valid.json.result.isError).toBeUndefined();
      expect(gateway.deps.tasks.items.size).toBe(1);
    });

    it(`${era} era: answers input nested deeper than ${MAX_INPUT_DEPTH} levels with INVALID_INPUT, even 20,000 deep, and writes nothing`, async () => {
      const { gateway, send } = setup();
      for (const depth of [MAX_INPUT_DEPTH + 1, 20_000]) {
        const result = await send(toolCall(era, 'submit_task', `{"capability":"echo","input":${'['.repeat(depth)}${']'.repeat(depth)}}`));
        expect(result.statusCode).toBe(200);
        expect(result.json.result).toMatchObject({ isError: true, content: [{ text: `INVALID_INPUT: input is nested deeper than ${MAX_INPUT_DEPTH} levels` }] });
      }
      expect(gateway.deps.tasks.writes).toBe(0);
      const deepest = await send(toolCall(era, 'submit_task', `{"capability":"echo","input":${'{"a":'.repeat(MAX_INPUT_DEPTH)}1${'}'.repeat(MAX_INPUT_DEPTH)}}`));
      expect(deepest.json.result.isError).toBeUndefined();
    });
  }

  it('answers invalid params of protocol methods with -32602 and a short message, in both eras', async () => {
    const { send } = setup();
    const legacy = (method: string, params: unknown) => post(JSON.stringify({ jsonrpc: '2.0', id: 5, method, params }));
    const modern = (method: string, params: Record<string, unknown>) =>
      post(JSON.stringify({ jsonrpc: '2.0', id: 5, method, params: { ...params, _meta: META } }), { 'mcp-protocol-version': '2026-07-28', 'mcp-method': method });
    const cases: [Request, RegExp][] = [
      [legacy('initialize', {}), /^Invalid params for initialize: protocolVersion: expected string/],
      [legacy('initialize', { protocolVersion: '2025-11-25', capabilities: 'all', clientInfo: { name: 'x', version: '1' } }), /capabilities: expected object/],
      [legacy('logging/setLevel', { level: 'nope' }), /^Invalid params for logging\/setLevel: level: /],
      [legacy('tools/call', { name: 5 }), /^Invalid params for tools\/call: name: expected string/],
      [legacy('tools/list', { cursor: 5 }), /cursor: expected string/],
      [modern('tools/list', { cursor: 5 }), /cursor: expected string/],
    ];
    for (const [request, message] of cases) {
      const result = await send(request);
      expect(result.statusCode).toBe(200);
      expect(result.json).toMatchObject({ id: 5, error: { code: -32602 } });
      expect(result.json.error.message).toMatch(message);
      expect(result.json.error.message.length).toBeLessThanOrEqual(160);
      expectNoInternals(result.body);
    }
  });
});

describe('names that are also Object.prototype members', () => {
  it('answers a method named "constructor", "__proto__" or "toString" with -32601, not a 500', async () => {
    const { send } = setup();
    for (const method of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const result = await send(post(JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: {} })));
      expect([method, result.statusCode, result.json.error.code]).toEqual([method, 200, -32601]);
    }
  });
});
