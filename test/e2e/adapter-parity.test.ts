import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiGatewayFetch, type EventStyle } from '../../bin/harness/api-gateway-fetch';
import { principal } from '../../bin/harness/in-memory';
import { gatewayWithFakes } from '../../bin/harness/in-memory-gateway';
import { startLocalCloudProcess, type LocalCloudProcess } from '../../bin/harness/local-cloud-process';
import { connectV1, connectV2, waitForTerminal } from '../../bin/harness/mcp-clients';

let cloud: LocalCloudProcess;
let token: string;
beforeAll(async () => {
  cloud = await startLocalCloudProcess();
  token = await cloud.token('parity', 'submitter');
}, 90_000);
afterAll(() => cloud?.stop());

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'parity', version: '1' },
};
const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const modernHeaders = (method: string, extra: Record<string, string> = {}) => ({
  ...JSON_HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': method, ...extra,
});

/** Requests whose answers do not depend on stored state: the same bytes must come back either way. */
const REQUESTS: [string, Record<string, string>, string][] = [
  ['2025 initialize', JSON_HEADERS, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'p', version: '1' } } })],
  ['2025 tools/list', JSON_HEADERS, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} })],
  ['2025 ping', JSON_HEADERS, JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'ping' })],
  ['2026 server/discover', modernHeaders('server/discover'), JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'server/discover', params: { _meta: META } })],
  ['2026 tools/list', modernHeaders('tools/list'), JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/list', params: { _meta: META } })],
  ['2026 unknown tool', modernHeaders('tools/call', { 'mcp-name': 'nope' }), JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'nope', arguments: {}, _meta: META } })],
  ['2026 version mismatch', modernHeaders('tools/list', { 'mcp-protocol-version': '2025-11-25' }), JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: { _meta: META } })],
  ['malformed JSON', JSON_HEADERS, '{"jsonrpc":'],
  ['batch', JSON_HEADERS, '[{"jsonrpc":"2.0","id":1,"method":"ping"}]'],
  ['wrong content type', { ...JSON_HEADERS, 'content-type': 'text/plain' }, '{}'],
];

const normalize = async (response: Response) => ({
  status: response.status,
  contentType: response.headers.get('content-type')?.split(';')[0],
  body: await response.text().then((text) => (text ? JSON.parse(text) : null)),
});

describe('the Lambda adapter answers like the local server', () => {
  const styles: [string, EventStyle][] = [['plain', {}], ['upper-case headers, base64 body', { upperCaseHeaders: true, base64Body: true }]];
  for (const [name, headers, body] of REQUESTS) {
    for (const [styleName, style] of styles) {
      it(`${name} (${styleName})`, async () => {
        const local = await fetch(cloud.mcpUrl, { method: 'POST', headers: { ...headers, authorization: `Bearer ${token}` }, body });
        const lambda = await apiGatewayFetch(gatewayWithFakes().handler, principal('parity'), style)(
          'https://abc123.execute-api.us-east-1.amazonaws.com/v1/mcp',
          { method: 'POST', headers, body },
        );
        expect(await normalize(lambda)).toEqual(await normalize(local));
      });
    }
  }

  it('GET (405) the same way', async () => {
    const local = await fetch(cloud.mcpUrl, { headers: { authorization: `Bearer ${token}` } });
    const lambda = await apiGatewayFetch(gatewayWithFakes().handler, principal('parity'))('https://abc123.execute-api.us-east-1.amazonaws.com/v1/mcp');
    expect(await normalize(lambda)).toEqual(await normalize(local));
  });
});

describe('one store for both eras on npm start', () => {
  it('a task submitted in 2026-07-28 is read and cancelled in 2025-11-25, and the reverse', async () => {
    const modern = await connectV2(cloud.mcpUrl, token, '2026-07-28');
    const legacy = await connectV1(cloud.mcpUrl, token);
    const fromModern = (await modern.callTool('submit_task', { capability: 'echo', input: 'm' })).structuredContent as { taskId: string };
    expect((await waitForTerminal(legacy, fromModern.taskId)).result).toBe('m');
    const fromLegacy = (await legacy.callTool('submit_task', { capability: 'echo', input: 'l' })).structuredContent as { taskId: string };
    const cancel = await modern.callTool('cancel_task', { taskId: fromLegacy.taskId });
    // The worker may finish first: then the cancel is refused, and both eras agree the task succeeded.
    const final = await waitForTerminal(modern, fromLegacy.taskId);
    if (cancel.isError) {
      expect(JSON.stringify(cancel.content)).toContain('INVALID_TRANSITION');
      expect(final.status).toBe('succeeded');
    } else {
      expect(cancel.structuredContent).toEqual({ taskId: fromLegacy.taskId, status: 'cancelled' });
      expect(final.status).toBe('cancelled');
    }
    expect((await waitForTerminal(legacy, fromLegacy.taskId)).status).toBe(final.status);
  });
});
