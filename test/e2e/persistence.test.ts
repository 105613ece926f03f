import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLocalCloudProcess } from '../../bin/harness/local-cloud-process';
import { connectV1, waitForTerminal } from '../../bin/harness/mcp-clients';

describe('npm start state', () => {
  it('survives a restart with the default data folder', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-persist-'));
    const first = await startLocalCloudProcess({ dataDir, inMemory: false });
    const token = await first.token('acme');
    const before = await connectV1(first.mcpUrl, token);
    const { taskId } = (await before.callTool('submit_task', { capability: 'echo', input: 'kept' })).structuredContent as { taskId: string };
    await waitForTerminal(before, taskId);
    await first.stop();

    const second = await startLocalCloudProcess({ dataDir, inMemory: false });
    const after = await connectV1(second.mcpUrl, await second.token('acme'));
    expect((await after.callTool('get_task', { taskId })).structuredContent).toMatchObject({ taskId, status: 'succeeded', result: 'kept' });
    await second.stop();
  }, 120_000);

  it('forgets everything with --in-memory', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-memory-'));
    const first = await startLocalCloudProcess({ dataDir, inMemory: true });
    const client = await connectV1(first.mcpUrl, await first.token('acme'));
    const { taskId } = (await client.callTool('submit_task', { capability: 'echo', input: 1 })).structuredContent as { taskId: string };
    await first.stop();
    const second = await startLocalCloudProcess({ dataDir, inMemory: true });
    const result = await (await connectV1(second.mcpUrl, await second.token('acme'))).callTool('get_task', { taskId });
    expect(JSON.stringify(result.content)).toContain('NOT_FOUND');
    await second.stop();
  }, 120_000);
});
