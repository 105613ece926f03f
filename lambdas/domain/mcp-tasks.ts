import { DEAD_LETTERED, type TaskStatus, type TaskView } from './task';

/**
 * Switchboard tasks as MCP tasks (docs/protocol.md, "MCP tasks"): the status mapping, poll hints,
 * status messages, and the shapes each protocol era puts on the wire. Pure: the gateway's task
 * methods (lambdas/mcp-gateway/task-methods.ts) read the task store and answer with these.
 */

export type McpTaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';

/**
 * The MCP status of each Switchboard status (2025-11-25). A run waiting at an approval gate is
 * `working`, not `input_required`: its input comes from an approver's approve_task, never from the
 * client that follows the task (docs/protocol.md). 2026-07-28 differs for failures only (`mcpStatusOf`).
 */
export const MCP_TASK_STATUS: Readonly<Record<TaskStatus, McpTaskStatus>> = {
  queued: 'working',
  running: 'working',
  waiting_approval: 'working',
  succeeded: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
};

/** How often a client should poll a task in each live status (ms): a gate waits for people, so more slowly. */
export const POLL_INTERVAL_MS: Readonly<Partial<Record<TaskStatus, number>>> = { queued: 2_000, running: 2_000, waiting_approval: 30_000 };

/**
 * Failures of the platform rather than of the work (a message dead-lettered, no attempt that
 * finished): 2026-07-28 reports them as `failed` with a JSON-RPC error. Every other failure is the
 * work's own (the agent's error, a deadline, an unknown capability, a rejected gate): a tool error,
 * `completed` with `result.isError`.
 */
export const PLATFORM_FAILURES: ReadonlySet<string> = new Set([DEAD_LETTERED, 'ATTEMPTS_EXHAUSTED']);

/** JSON-RPC internal error: what a platform failure is to a 2026-07-28 client. */
const INTERNAL_ERROR = -32603;

/** Switchboard tasks are kept (no expiry; the audit log names them): every era's TTL is null, unlimited. */
export const TASK_TTL = null;

export const isPlatformFailure = (view: Pick<TaskView, 'status' | 'error'>): boolean =>
  view.status === 'failed' && view.error !== undefined && PLATFORM_FAILURES.has(view.error.code);

/** The MCP status of a task in `era`: 2026-07-28 reports a failure of the work as `completed` (with result.isError). */
export const mcpStatusOf = (view: Pick<TaskView, 'status' | 'error'>, era: 'legacy' | 'modern'): McpTaskStatus =>
  era === 'modern' && view.status === 'failed' && !isPlatformFailure(view) ? 'completed' : MCP_TASK_STATUS[view.status];

/** What a person reads about the task's state (`statusMessage`); none once it succeeded. */
export const statusMessageOf = (view: TaskView): string | undefined => {
  switch (view.status) {
    case 'queued':
      return `queued at priority ${view.priority}${view.deadline ? `, deadline ${view.deadline}` : ''}`;
    case 'running': {
      if (!view.workflow) return `running on ${view.capability}`;
      // A run names the steps it is in (parallel branches: several).
      const steps = (view.steps ?? []).filter((step) => step.status === 'running').map((step) => step.stepId);
      return `workflow ${view.workflow} running${steps.length ? `: ${steps.length > 1 ? 'steps' : 'step'} ${steps.join(', ')}` : ''}`;
    }
    case 'waiting_approval':
      return view.approval
        ? `waiting for approval of step ${view.approval.stepId} by ${view.approval.roles.join(' or ')} until ${view.approval.deadline}`
        : 'waiting for approval';
    case 'failed':
      return view.error ? `${view.error.code}: ${view.error.message}` : 'failed';
    case 'cancelled':
      return 'cancelled';
    case 'succeeded':
      return undefined;
  }
};

interface TextContent {
  type: 'text';
  text: string;
}

/** A tool result as MCP carries it (the SDK-free shape). */
export interface McpToolResult {
  [key: string]: unknown;
  content: TextContent[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  _meta?: Record<string, unknown>;
}

/**
 * The result of the tool call a task stands for, once the task is terminal: its outcome (id, status,
 * priority, and the result or the error; get_task shows the rest, a run's steps and decisions); a
 * failure or a cancellation is a tool error `CODE: message`.
 */
export const finalToolResult = (view: TaskView): McpToolResult => {
  const structuredContent: Record<string, unknown> = {
    taskId: view.taskId,
    status: view.status,
    priority: view.priority,
    ...(view.result !== undefined ? { result: view.result } : {}),
    ...(view.error ? { error: view.error } : {}),
  };
  if (view.status === 'succeeded') return { content: [{ type: 'text', text: JSON.stringify(structuredContent) }], structuredContent };
  const text = view.status === 'cancelled' ? `CANCELLED: task ${view.taskId} was cancelled` : statusMessageOf(view) ?? `task ${view.taskId} ${view.status}`;
  return { isError: true, content: [{ type: 'text', text }], structuredContent };
};

/** The task object of 2025-11-25 (`CreateTaskResult.task`, `tasks/get`, `tasks/list`, `tasks/cancel`). */
export const legacyTaskOf = (view: TaskView) => {
  const pollInterval = POLL_INTERVAL_MS[view.status];
  const statusMessage = statusMessageOf(view);
  return {
    taskId: view.taskId,
    status: MCP_TASK_STATUS[view.status],
    ttl: TASK_TTL,
    createdAt: view.createdAt,
    lastUpdatedAt: view.updatedAt,
    ...(pollInterval !== undefined ? { pollInterval } : {}),
    ...(statusMessage !== undefined ? { statusMessage } : {}),
  };
};

/** The task fields of 2026-07-28 (a `CreateTaskResult`'s top level): `ttlMs`, `pollIntervalMs`, never result or error. */
export const modernTaskOf = (view: TaskView) => {
  const pollIntervalMs = POLL_INTERVAL_MS[view.status];
  const statusMessage = statusMessageOf(view);
  return {
    taskId: view.taskId,
    status: mcpStatusOf(view, 'modern'),
    createdAt: view.createdAt,
    lastUpdatedAt: view.updatedAt,
    ttlMs: TASK_TTL,
    ...(pollIntervalMs !== undefined ? { pollIntervalMs } : {}),
    ...(statusMessage !== undefined ? { statusMessage } : {}),
  };
};

/**
 * 2026-07-28 `tasks/get` (DetailedTask): the task, with the tool result inlined once completed
 * (a failure of the work as `result.isError`), or the JSON-RPC error of a platform failure.
 */
export const detailedTaskOf = (view: TaskView) => {
  const task = modernTaskOf(view);
  if (task.status === 'completed') return { ...task, result: finalToolResult(view) };
  if (task.status === 'failed') return { ...task, error: protocolErrorOf(view) };
  return task;
};

/** The JSON-RPC error a platform failure is (2026 `tasks/get`'s `error`, 2025 `tasks/result`'s error). */
export const protocolErrorOf = (view: Pick<TaskView, 'error'>) => {
  const error = view.error ?? { code: 'FAILED', message: 'failed' };
  return { code: INTERNAL_ERROR, message: `${error.code}: ${error.message}`, data: { code: error.code } };
};
