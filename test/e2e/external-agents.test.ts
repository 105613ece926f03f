import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCloud, type LocalCloud } from '../../bin/local-cloud/cloud';
import { connectV1, connectV2, waitForTerminal, type ToolClient } from '../../bin/harness/mcp-clients';

/**
 * External agents end to end on the local cloud (npm start's code, in-process, cdk.json
 * pullCapabilities → PULL_CAPABILITIES): a submitter's task of a pull capability is claimed,
 * heartbeaten and completed by an MCP client with the agent role, the worker never runs it.
 */
let cloud: LocalCloud;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  cloud = await startLocalCloud({
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), 'switchboard-pull-data-')),
    inMemory: true,
    log: () => undefined,
    // The failures these tests provoke are logged as warnings by the functions: keep the test output readable.
    logLevel: 'SILENT',
    adjustConfig: (config) => ({ ...config, pullCapabilities: ['translate'] }),
  });
  tokens['alice'] = await cloud.token({ tenant: 'acme', subject: 'alice', roles: ['submitter'] });
  tokens['robot'] = await cloud.token({ tenant: 'acme', subject: 'robot-1', roles: ['agent'] });
  tokens['intruder'] = await cloud.token({ tenant: 'globex', subject: 'robot-2', roles: ['agent'] });
}, 60_000);
afterAll(() => cloud?.stop());

const call = async (client: ToolClient, tool: string, args: Record<string, unknown>) => {
  const result = await client.callTool(tool, args);
  expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
  return result.structuredContent as Record<string, unknown>;
};

describe('external agents on npm start', () => {
  it('submit (2025 era) → claim, heartbeat, complete (2026 era) → get_task shows the agent\'s output; another tenant\'s agent gets nothing', async () => {
    const alice = await connectV1(cloud.mcpUrl, tokens['alice']!);
    const robot = await connectV2(cloud.mcpUrl, tokens['robot']!, '2026-07-28');
    const intruder = await connectV2(cloud.mcpUrl, tokens['intruder']!, '2026-07-28');
    const { taskId } = await call(alice, 'submit_task', { capability: 'translate', input: { text: 'hallo', to: 'en' } });

    expect(await call(intruder, 'claim_task', { capabilities: ['translate'] })).toEqual({ task: null });
    // Long poll: the task is claimable at once (the worker acks its message and leaves it queued).
    const claimed = await call(robot, 'claim_task', { capabilities: ['translate'], waitSeconds: 5 });
    expect(claimed).toMatchObject({ taskId, capability: 'translate', input: { text: 'hallo', to: 'en' }, attempt: 1 });
    const beat = await call(robot, 'heartbeat_task', { taskId, leaseId: claimed['leaseId'] });
    expect(Date.parse(String(beat['leaseUntil']))).toBeGreaterThanOrEqual(Date.parse(String(claimed['leaseUntil'])));
    expect(await call(robot, 'complete_task', { taskId, leaseId: claimed['leaseId'], output: { text: 'hello' } })).toEqual({ taskId, status: 'succeeded' });

    expect(await waitForTerminal(alice, String(taskId))).toMatchObject({ status: 'succeeded', result: { text: 'hello' } });
    const again = await robot.callTool('complete_task', { taskId, leaseId: claimed['leaseId'], output: 1 });
    expect(again.isError).toBe(true);
    expect(JSON.stringify(again.content)).toContain(`your lease on task ${taskId} is no longer valid`);
    // The submitter may not pull; the agent may not submit.
    expect((await alice.callTool('claim_task', { capabilities: ['translate'] })).isError).toBe(true);
    expect((await robot.callTool('submit_task', { capability: 'translate', input: 1 })).isError).toBe(true);
    await Promise.all([alice.close(), robot.close(), intruder.close()]);
  });
});
