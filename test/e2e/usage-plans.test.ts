import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCloud, type LocalCloud } from '../../bin/local-cloud/cloud';
import { THROTTLED } from '../../lambdas/contracts';

/**
 * The usage plans of the synthesized template, enforced by the local API Gateway per key: a listed
 * tenant on a tiny tier is throttled at the edge (429, JSON-RPC body) before its function runs,
 * while tenants on the shared key go on.
 */
let cloud: LocalCloud;
beforeAll(async () => {
  cloud = await startLocalCloud({
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), 'switchboard-usage-')),
    inMemory: true,
    log: () => undefined,
    // The failures these tests provoke are logged as warnings by the functions: keep the test output readable.
    logLevel: 'SILENT',
    adjustConfig: (config) => ({
      ...config,
      quotas: {
        ...config.quotas,
        tiers: { ...config.quotas.tiers, tiny: { submitsPerSecond: 1, burst: 1, requestsPerSecond: 0.5, requestBurst: 3 } },
        tenants: { metered: 'tiny' },
      },
    }),
  });
}, 60_000);
afterAll(() => cloud?.stop());

const ping = async (token: string) => {
  const response = await fetch(cloud.mcpUrl, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  });
  return { status: response.status, body: await response.text() };
};

describe('usage plans at the local API Gateway', () => {
  it('a listed tenant past its plan\'s burst gets 429 with a JSON-RPC error; a tenant on the shared key does not', async () => {
    const metered = await cloud.token({ tenant: 'metered', roles: ['viewer'] });
    const other = await cloud.token({ tenant: 'other', roles: ['viewer'] });
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await ping(metered));
    expect(answers.slice(0, 3).map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers.slice(3).map((a) => a.status)).toEqual([429, 429]);
    expect(JSON.parse(answers[3]!.body)).toEqual({ jsonrpc: '2.0', id: null, error: { code: THROTTLED.code, message: THROTTLED.message } });
    for (let i = 0; i < 5; i++) expect((await ping(other)).status).toBe(200);
  });
});
