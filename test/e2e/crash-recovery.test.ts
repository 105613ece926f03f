import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLocalCloudProcess } from '../../bin/harness/local-cloud-process';
import { connectV1, waitForStatus, waitForTerminal, type ToolClient } from '../../bin/harness/mcp-clients';

/** The recovery bound docs/reliability.md states for a restart of npm start after kill -9. */
const RECOVERY_BOUND_MS = 30_000;
const TASKS = 40;

const listAll = async (client: ToolClient): Promise<string[]> => {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = (await client.callTool('list_tasks', { limit: 100, ...(cursor ? { cursor } : {}) })).structuredContent as {
      tasks: { taskId: string }[];
      nextCursor?: string;
    };
    ids.push(...page.tasks.map((t) => t.taskId));
    cursor = page.nextCursor;
  } while (cursor);
  return ids;
};

describe('kill -9 of npm start with tasks in flight', () => {
  it(`every acknowledged task ends once within ${RECOVERY_BOUND_MS / 1000} s of the restart, and none is listed twice`, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-crash-'));
    const first = await startLocalCloudProcess({ dataDir });
    const token = await first.token('crash');
    const client = await connectV1(first.mcpUrl, token);

    // Submit a burst; kill the process once half are acknowledged, while the rest are in flight.
    const acknowledged = new Map<string, string>();
    let killed = false;
    let crashed: Promise<void> | undefined;
    const submits = Array.from({ length: TASKS }, async (_, n) => {
      try {
        const result = await client.callTool('submit_task', { capability: 'echo', input: { n }, idempotencyKey: `burst-${n}` });
        if (!killed && !result.isError) acknowledged.set(`burst-${n}`, (result.structuredContent as { taskId: string }).taskId);
        if (acknowledged.size >= TASKS / 2 && !killed) {
          killed = true;
          crashed = first.crash();
        }
      } catch {
        // Unanswered: the connection died with the process.
      }
    });
    await Promise.all(submits);
    await crashed;
    expect(killed).toBe(true);
    expect(acknowledged.size).toBeGreaterThanOrEqual(TASKS / 2);

    const restartedAt = Date.now();
    const second = await startLocalCloudProcess({ dataDir });
    const after = await connectV1(second.mcpUrl, await second.token('crash'));
    try {
      // Every acknowledged task reaches one terminal state, succeeded, within the bound.
      const ended = await Promise.all([...acknowledged.values()].map((taskId) => waitForTerminal(after, taskId, RECOVERY_BOUND_MS + 15_000)));
      const recoveryMs = Date.now() - restartedAt;
      expect(ended.map((t) => t.status)).toEqual(ended.map(() => 'succeeded'));
      expect(recoveryMs).toBeLessThanOrEqual(RECOVERY_BOUND_MS + 10_000); // the bound plus the restart itself (synth + provisioning)
      console.log(`recovery after kill -9: ${acknowledged.size} acknowledged tasks all succeeded ${recoveryMs} ms after the restart began`);

      // A client retries the unanswered submits with their keys: each is created or found, and ends.
      for (let n = 0; n < TASKS; n += 1) {
        const result = await after.callTool('submit_task', { capability: 'echo', input: { n }, idempotencyKey: `burst-${n}` });
        const { taskId } = result.structuredContent as { taskId: string };
        if (acknowledged.has(`burst-${n}`)) expect(taskId).toBe(acknowledged.get(`burst-${n}`));
        expect((await waitForTerminal(after, taskId, RECOVERY_BOUND_MS)).status).toBe('succeeded');
      }
      const listed = await listAll(after);
      expect(listed).toHaveLength(new Set(listed).size);
      expect(listed).toHaveLength(TASKS);
    } finally {
      await second.stop();
    }
  }, 150_000);
});

describe('kill -9 of npm start with a workflow run in flight', () => {
  it('the run resumes in a new execution after the restart: the step that succeeded does not run again, the gate asks again, the run ends once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-crash-run-'));
    // The reconciler (which resumes lost executions) every second instead of every minute.
    const env = { SWITCHBOARD_SCHEDULE_MS: '1000' };
    const first = await startLocalCloudProcess({ dataDir, env });
    const alice = await connectV1(first.mcpUrl, await first.token('crash-run', 'submitter', 'alice'));
    const started = await alice.callTool('start_workflow', { workflow: 'purchase-approval', input: { item: 'chair', amount: 80 } });
    const { taskId } = started.structuredContent as { taskId: string };
    const before = await waitForStatus(alice, taskId, ['waiting_approval']);
    expect((before['steps'] as { stepId: string; attempts: number }[]).find((s) => s.stepId === 'quote')).toMatchObject({ attempts: 1 });
    await first.crash();

    const second = await startLocalCloudProcess({ dataDir, env });
    try {
      const again = await connectV1(second.mcpUrl, await second.token('crash-run', 'submitter', 'alice'));
      const bob = await connectV1(second.mcpUrl, await second.token('crash-run', 'approver', 'bob'));
      // The old execution was lost with the process: the watch resumes the run, whose gate opens again.
      for (;;) {
        const result = await bob.callTool('approve_task', { taskId, comment: 'after the crash' });
        if (!result.isError) break;
        expect(JSON.stringify(result.content)).toMatch(/INVALID_TRANSITION|already decided|no approval/);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const run = await waitForTerminal(again, taskId, 30_000);
      expect(run).toMatchObject({ status: 'succeeded', decisions: [{ decision: 'approved', by: 'bob' }] });
      const steps = Object.fromEntries((run['steps'] as { stepId: string; attempts: number; status: string }[]).map((s) => [s.stepId, s]));
      expect(steps['quote']).toMatchObject({ status: 'succeeded', attempts: 1 });
      expect(steps['order']).toMatchObject({ status: 'succeeded', attempts: 1 });
    } finally {
      await second.stop();
    }
  }, 120_000);
});
