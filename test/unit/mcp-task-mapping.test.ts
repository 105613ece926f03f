import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { detailedTaskOf, finalToolResult, legacyTaskOf, MCP_TASK_STATUS, modernTaskOf, PLATFORM_FAILURES } from '../../lambdas/domain/mcp-tasks';
import { TASK_STATUSES, type TaskView } from '../../lambdas/domain/task';

const at = '2026-11-26T10:00:00.000Z';
const view = (patch: Partial<TaskView>): TaskView => ({
  taskId: 'tsk_aaaaaaaaaaaaaaaaaaaaaaaaaa',
  capability: 'echo',
  status: 'queued',
  priority: 'normal',
  createdAt: at,
  updatedAt: '2026-11-26T10:00:05.000Z',
  ...patch,
});

const views = fc.record({
  status: fc.constantFrom(...TASK_STATUSES),
  code: fc.constantFrom('AGENT_ERROR', 'DEADLINE_EXCEEDED', 'RUN_REJECTED', ...PLATFORM_FAILURES),
  result: fc.jsonValue(),
}).map(({ status, code, result }) =>
  view({ status, ...(status === 'failed' ? { error: { code, message: 'went wrong' } } : {}), ...(status === 'succeeded' ? { result } : {}) }),
);

describe('Switchboard tasks as MCP tasks (lambdas/domain/mcp-tasks.ts)', () => {
  it('2025: the mapped status, timestamps, a null ttl, and a poll interval only while the task lives', () => {
    fc.assert(
      fc.property(views, (task) => {
        const mcp = legacyTaskOf(task);
        expect(mcp).toMatchObject({ taskId: task.taskId, status: MCP_TASK_STATUS[task.status], ttl: null, createdAt: at, lastUpdatedAt: task.updatedAt });
        expect(mcp.pollInterval !== undefined).toBe(['queued', 'running', 'waiting_approval'].includes(task.status));
      }),
    );
  });

  it('2026: result inlined exactly when completed, error exactly when failed, never the v1 keys', () => {
    fc.assert(
      fc.property(views, (task) => {
        const detailed = detailedTaskOf(task) as Record<string, unknown>;
        const handle = modernTaskOf(task) as Record<string, unknown>;
        for (const key of ['ttl', 'pollInterval', 'task', 'requestState']) expect(detailed).not.toHaveProperty(key);
        expect('result' in handle || 'error' in handle).toBe(false);
        expect('result' in detailed).toBe(detailed['status'] === 'completed');
        expect('error' in detailed).toBe(detailed['status'] === 'failed');
        expect(detailed['ttlMs']).toBeNull();
        if (detailed['pollIntervalMs'] !== undefined) expect(Number.isInteger(detailed['pollIntervalMs'])).toBe(true);
      }),
    );
  });

  it('2026: the work\'s failure is a completed tool error; the platform\'s is a failed task with a JSON-RPC error', () => {
    const agent = detailedTaskOf(view({ status: 'failed', error: { code: 'AGENT_ERROR', message: 'refused' } }));
    expect(agent).toMatchObject({ status: 'completed', result: { isError: true, content: [{ type: 'text', text: 'AGENT_ERROR: refused' }] } });
    const lost = detailedTaskOf(view({ status: 'failed', error: { code: 'DEAD_LETTERED', message: 'dead-lettered' } }));
    expect(lost).toMatchObject({ status: 'failed', error: { code: -32603, message: 'DEAD_LETTERED: dead-lettered', data: { code: 'DEAD_LETTERED' } } });
    expect(legacyTaskOf(view({ status: 'failed', error: { code: 'AGENT_ERROR', message: 'refused' } })).status).toBe('failed');
  });

  it('a running run names the steps it is in', () => {
    const step = (stepId: string, status: string) => ({ stepId, kind: 'agent' as const, status, attempts: 1, startedAt: at });
    const run = (steps: ReturnType<typeof step>[]) => legacyTaskOf(view({ status: 'running', workflow: 'triage', steps })).statusMessage;
    expect(run([step('classify', 'succeeded'), step('route', 'running')])).toBe('workflow triage running: step route');
    expect(run([step('a', 'running'), step('b', 'running')])).toBe('workflow triage running: steps a, b');
    expect(run([])).toBe('workflow triage running');
    expect(legacyTaskOf(view({ status: 'running' })).statusMessage).toBe('running on echo');
  });

  it('a run at an approval gate is working, polled slowly, naming who may decide until when', () => {
    const gated = view({
      status: 'waiting_approval',
      workflow: 'purchase-approval',
      approval: { stepId: 'manager', roles: ['approver', 'admin'], level: 1, deadline: '2026-11-27T10:00:00.000Z' },
    });
    expect(legacyTaskOf(gated)).toMatchObject({
      status: 'working',
      pollInterval: 30_000,
      statusMessage: 'waiting for approval of step manager by approver or admin until 2026-11-27T10:00:00.000Z',
    });
    expect(modernTaskOf(gated)).toMatchObject({ status: 'working', pollIntervalMs: 30_000 });
  });

  it('the final tool result: the task\'s outcome; a failure or a cancellation is a CODE: message tool error', () => {
    const done = view({ status: 'succeeded', result: { answer: 42 }, workflow: 'triage' });
    const outcome = { taskId: done.taskId, status: 'succeeded', priority: 'normal', result: { answer: 42 } };
    expect(finalToolResult(done)).toEqual({ content: [{ type: 'text', text: JSON.stringify(outcome) }], structuredContent: outcome });
    expect(finalToolResult(view({ status: 'failed', error: { code: 'AGENT_ERROR', message: 'no' } }))).toMatchObject({
      isError: true,
      content: [{ type: 'text', text: 'AGENT_ERROR: no' }],
      structuredContent: { status: 'failed', error: { code: 'AGENT_ERROR', message: 'no' } },
    });
    expect(finalToolResult(view({ status: 'cancelled' }))).toMatchObject({
      isError: true,
      content: [{ type: 'text', text: 'CANCELLED: task tsk_aaaaaaaaaaaaaaaaaaaaaaaaaa was cancelled' }],
    });
  });
});
