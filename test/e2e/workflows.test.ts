import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { copyFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCloud, type LocalCloud } from '../../bin/local-cloud/cloud';
import { connectV1, connectV2, waitForStatus, waitForTerminal, type ToolClient } from '../../bin/harness/mcp-clients';
import { PROJECT_ROOT } from '../../lib/constructs/switchboard-function';

/**
 * Workflows end to end on the local cloud (npm start's code, in-process): the synthesized state
 * machines on the local Step Functions service, MCP clients of both eras. The examples of
 * lib/workflows plus two test workflows (test/fixtures/workflows) with the chaos agent enabled.
 */
let cloud: LocalCloud;
let sfn: SFNClient;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-workflows-'));
  for (const from of [join(PROJECT_ROOT, 'lib', 'workflows'), join(PROJECT_ROOT, 'test', 'fixtures', 'workflows')]) {
    for (const file of readdirSync(from).filter((f) => f.endsWith('.yaml'))) copyFileSync(join(from, file), join(dir, file));
  }
  cloud = await startLocalCloud({
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), 'switchboard-wf-data-')),
    inMemory: true,
    log: () => undefined,
    // The failures these tests provoke are logged as warnings by the functions: keep the test output readable.
    logLevel: 'SILENT',
    adjustConfig: (config) => ({ ...config, agents: ['echo', 'chaos'], pullCapabilities: ['review'], workflowsDir: dir }),
  });
  sfn = new SFNClient(cloud.aws.stepfunctions);
  for (const [who, roles] of [['alice', ['submitter']], ['bob', ['approver']], ['carol', ['admin']], ['dave', ['viewer']], ['robot', ['agent']]] as const) {
    tokens[who] = await cloud.token({ tenant: 'acme', subject: who, roles: [...roles] });
  }
}, 60_000);
afterAll(() => cloud?.stop());

const as = (who: string, era: '2025-11-25' | '2026-07-28' = '2026-07-28'): Promise<ToolClient> =>
  era === '2025-11-25' ? connectV1(cloud.mcpUrl, tokens[who]!) : connectV2(cloud.mcpUrl, tokens[who]!, era);

const start = async (client: ToolClient, args: Record<string, unknown>) => {
  const result = await client.callTool('start_workflow', args);
  expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
  return (result.structuredContent as { taskId: string }).taskId;
};

type Step = { stepId: string; status: string; attempts: number; output?: unknown; error?: { code: string }; startedAt: string; finishedAt?: string };
const stepsOf = (task: Record<string, unknown>) => Object.fromEntries((task['steps'] as Step[]).map((s) => [s.stepId, s]));

const executionsOf = async (workflow: string) => {
  const machine = cloud.platform.stateMachines.find((m) => m.name.toLowerCase().includes(workflow.replace(/-/g, '')))!;
  return (await sfn.send(new ListExecutionsCommand({ stateMachineArn: machine.arn }))).executions ?? [];
};

describe('workflows on npm start', () => {
  for (const era of ['2025-11-25', '2026-07-28'] as const) {
    it(`${era}: the parallel/choice workflow succeeds, every step recorded, the chosen branch only`, async () => {
      const client = await as('alice', era);
      const taskId = await start(client, { workflow: 'triage', input: { text: 'printer on fire', priority: 'urgent', customer: 'c-42' } });
      const run = await waitForTerminal(client, taskId);
      expect(run).toMatchObject({ status: 'succeeded', workflow: 'triage', capability: 'workflow.triage' });
      const steps = stepsOf(run);
      expect(Object.keys(steps).sort()).toEqual(['classify', 'lookupCustomer', 'lookupHistory', 'page']);
      for (const step of Object.values(steps)) expect(step).toMatchObject({ status: 'succeeded', attempts: 1 });
      expect(steps['page']!.output).toEqual({ customer: 'c-42', text: 'printer on fire', channel: 'pager' });
      expect(run.result).toMatchObject({ classify: { text: 'printer on fire', priority: 'urgent' }, page: { channel: 'pager' } });
      const listed = (await client.callTool('list_tasks', {})).structuredContent as { tasks: { taskId: string }[] };
      expect(listed.tasks.map((t) => t.taskId)).toContain(taskId);
      await client.close();
    });
  }

  it('a step that fails twice is retried with backoff and succeeds; a hanging step times out and fails the run', async () => {
    const client = await as('alice');
    const ok = await start(client, { workflow: 'drill', input: { flakyFails: 2, hangSeconds: 0, label: 'third time' } });
    const done = await waitForTerminal(client, ok, 30_000);
    expect(done.status).toBe('succeeded');
    const flaky = stepsOf(done)['flaky']!;
    expect(flaky).toMatchObject({ status: 'succeeded', attempts: 3, output: 'third time' });
    // No jitter in the drill: 1 s, then 2 s between the attempts.
    expect(Date.parse(flaky.finishedAt!) - Date.parse(flaky.startedAt)).toBeGreaterThanOrEqual(2_500);

    const hung = await start(client, { workflow: 'drill', input: { flakyFails: 0, hangSeconds: 30, label: 'x' } });
    const failed = await waitForTerminal(client, hung, 30_000);
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'STEP_FAILED' } });
    expect(stepsOf(failed)['slow']).toMatchObject({ status: 'failed', error: { code: 'STEP_TIMEOUT' } });
  }, 60_000);

  it('a step that always fails follows its rule (continue): the run goes on and records the failure', async () => {
    const client = await as('alice', '2025-11-25');
    const taskId = await start(client, { workflow: 'drill', input: { flakyFails: 9, hangSeconds: 0, label: 'never' } });
    const run = await waitForTerminal(client, taskId, 30_000);
    expect(run.status).toBe('succeeded');
    expect(stepsOf(run)['flaky']).toMatchObject({ status: 'failed', attempts: 3, error: { code: 'AGENT_ERROR' } });
    expect(stepsOf(run)['slow']).toMatchObject({ status: 'succeeded' });
  }, 60_000);

  it('an approver approves (never the submitter, never a viewer); the decision is recorded and the run finishes', async () => {
    const alice = await as('alice');
    const taskId = await start(alice, { workflow: 'quick-approval', input: { amount: 120 } });
    const waiting = await waitForStatus(alice, taskId, ['waiting_approval']);
    expect(waiting['approval']).toMatchObject({ stepId: 'approve', roles: ['approver'], level: 1, prompt: 'Approve the purchase?' });
    expect(JSON.stringify(waiting)).not.toContain('token');

    for (const who of ['alice', 'dave']) {
      const refused = await (await as(who)).callTool('approve_task', { taskId });
      expect(refused.isError).toBe(true);
      expect(JSON.stringify(refused.content)).toContain('FORBIDDEN');
    }
    const approved = await (await as('bob', '2025-11-25')).callTool('approve_task', { taskId, comment: 'within budget' });
    expect(approved.structuredContent).toMatchObject({ taskId, decision: 'approved' });
    const again = await (await as('bob')).callTool('approve_task', { taskId });
    expect(again.isError).toBe(true);

    const run = await waitForTerminal(alice, taskId);
    expect(run).toMatchObject({ status: 'succeeded', decisions: [{ stepId: 'approve', level: 1, decision: 'approved', by: 'bob', comment: 'within budget' }] });
    expect(run.result).toMatchObject({ order: { amount: 120, approval: { decision: 'approved', by: 'bob' } } });
  });

  it('a rejection fails the run with REJECTED', async () => {
    const alice = await as('alice');
    const taskId = await start(alice, { workflow: 'quick-approval', input: { amount: 9_999 } });
    await waitForStatus(alice, taskId, ['waiting_approval']);
    const rejected = await (await as('bob')).callTool('reject_task', { taskId, comment: 'too much' });
    expect(rejected.structuredContent).toMatchObject({ decision: 'rejected' });
    const run = await waitForTerminal(alice, taskId);
    expect(run).toMatchObject({ status: 'failed', error: { code: 'REJECTED' }, decisions: [{ decision: 'rejected', by: 'bob' }] });
  });

  it('no answer in time escalates to admin (an approver no longer decides); none at all fails with APPROVAL_TIMEOUT', async () => {
    const alice = await as('alice');
    const escalated = await start(alice, { workflow: 'quick-approval', input: { amount: 1 } });
    const lapsed = await start(alice, { workflow: 'quick-approval', input: { amount: 2 } });
    const level2 = await waitForStatus(alice, escalated, ['waiting_approval'], 5_000).then(async () => {
      for (;;) {
        const view = (await alice.callTool('get_task', { taskId: escalated })).structuredContent as { approval?: { level: number; roles: string[] } };
        if (view.approval?.level === 2) return view.approval;
        await new Promise((r) => setTimeout(r, 200));
      }
    });
    expect(level2.roles).toEqual(['admin']);
    const byApprover = await (await as('bob')).callTool('approve_task', { taskId: escalated });
    expect(JSON.stringify(byApprover.content)).toContain('FORBIDDEN');
    await (await as('carol')).callTool('approve_task', { taskId: escalated });
    expect(await waitForTerminal(alice, escalated)).toMatchObject({ status: 'succeeded', decisions: [{ level: 2, by: 'carol' }] });
    expect(await waitForTerminal(alice, lapsed, 20_000)).toMatchObject({ status: 'failed', error: { code: 'APPROVAL_TIMEOUT' } });
  }, 40_000);

  it('cancel_task on a waiting run cancels it once and stops its execution', async () => {
    const alice = await as('alice');
    const taskId = await start(alice, { workflow: 'quick-approval', input: { amount: 3 } });
    await waitForStatus(alice, taskId, ['waiting_approval']);
    const [first, second] = await Promise.all([alice.callTool('cancel_task', { taskId }), alice.callTool('cancel_task', { taskId })]);
    expect([first, second].map((r) => (r.structuredContent as { status: string } | undefined)?.status ?? 'error')).toContain('cancelled');
    expect(await waitForTerminal(alice, taskId)).toMatchObject({ status: 'cancelled' });
    const execution = (await executionsOf('quick-approval')).find((e) => e.name === taskId)!;
    expect(execution.status).toBe('ABORTED');
    const late = await (await as('bob')).callTool('approve_task', { taskId });
    expect(late.isError).toBe(true);
  });

  it('cancel_task while a step runs: the run is cancelled once, its execution stopped, no later step runs', async () => {
    const alice = await as('alice', '2025-11-25');
    // flaky fails twice (1 s, then 2 s of backoff): the run is mid-step for about 3 s.
    const taskId = await start(alice, { workflow: 'drill', input: { flakyFails: 2, hangSeconds: 0, label: 'cancel me' } });
    await waitForStatus(alice, taskId, ['running']);
    for (;;) {
      const view = (await alice.callTool('get_task', { taskId })).structuredContent as { steps?: Step[] };
      if (view.steps?.some((step) => step.stepId === 'flaky')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await alice.callTool('cancel_task', { taskId })).structuredContent).toMatchObject({ status: 'cancelled' });
    await new Promise((r) => setTimeout(r, 3_500));
    const run = await waitForTerminal(alice, taskId);
    expect(run.status).toBe('cancelled');
    expect(Object.keys(stepsOf(run))).toEqual(['flaky']);
    const execution = (await executionsOf('drill')).find((e) => e.name === taskId);
    expect(execution?.status).toBe('ABORTED');
  }, 20_000);

  it('two concurrent start_workflow with one idempotency key give one run and one execution', async () => {
    const [a, b] = [await as('alice'), await as('alice', '2025-11-25')];
    const args = { workflow: 'triage', input: { text: 'dup', priority: 'low', customer: 'c-1' }, idempotencyKey: 'wf-once' };
    const [x, y] = await Promise.all([start(a, args), start(b, args)]);
    expect(x).toBe(y);
    expect((await waitForTerminal(a, x)).status).toBe('succeeded');
    expect((await executionsOf('triage')).filter((e) => e.name?.startsWith(x))).toHaveLength(1);
  });

  it('answers bad workflow arguments with a tool error and writes nothing', async () => {
    const alice = await as('alice');
    for (const args of [{ workflow: 'nope', input: {} }, { workflow: 'triage', input: 'not an object' }, { workflow: 'triage', input: {}, extra: 1 }]) {
      const result = await alice.callTool('start_workflow', args);
      expect(result.isError).toBe(true);
    }
    const viewer = await (await as('dave')).callTool('start_workflow', { workflow: 'triage', input: {} });
    expect(JSON.stringify(viewer.content)).toContain('FORBIDDEN');
  });

  it('a pulled step: an external agent claims it over MCP, its answer continues the run (Standard, waits for the token)', async () => {
    const alice = await as('alice');
    const taskId = await start(alice, { workflow: 'pulled-review', input: { text: 'ship it' } });
    const robot = await as('robot', '2025-11-25');
    const claimed = (await robot.callTool('claim_task', { capabilities: ['review'], waitSeconds: 15 })).structuredContent as {
      taskId: string; leaseId: string; input: { draft: string };
    };
    expect(claimed.input).toEqual({ draft: 'ship it' });
    expect(claimed.taskId).not.toBe(taskId);
    expect((await robot.callTool('complete_task', { taskId: claimed.taskId, leaseId: claimed.leaseId, output: { verdict: 'approved by robot' } })).isError).toBeFalsy();
    const run = await waitForTerminal(alice, taskId);
    expect(run).toMatchObject({ status: 'succeeded', result: { review: { verdict: 'approved by robot' }, publish: { text: 'ship it', verdict: 'approved by robot' } } });
    expect(cloud.platform.stateMachines.find((m) => m.name.includes('PulledReview'))?.type).toBe('STANDARD');
  }, 40_000);
});
