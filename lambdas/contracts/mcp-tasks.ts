/**
 * MCP-native tasks (docs/protocol.md, "MCP tasks"): which methods each protocol era serves, which
 * tools run as tasks, and which tool each method is decided and scoped as. One definition for the
 * edge (scopes, gating), the tools server (handlers) and the tests.
 */

/** The 2026-07-28 extension that carries tasks (SEP-2663); a client declares it in its request's capabilities. */
export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';

/** The `_meta` key of a 2026-07-28 request's client capabilities (SEP-2575). */
export const CLIENT_CAPABILITIES_META = 'io.modelcontextprotocol/clientCapabilities';

/** The `_meta` key a 2025-11-25 `tasks/result` names its task with. */
export const RELATED_TASK_META = 'io.modelcontextprotocol/related-task';

/** JSON-RPC: the request needs a client capability it did not declare (SEP-2575). */
export const MISSING_REQUIRED_CLIENT_CAPABILITY = -32021;

/** JSON-RPC: a `tasks/result` that waited its most while the task still works (the MCP SDKs' RequestTimeout). */
export const TASK_RESULT_TIMEOUT = -32001;

/** The tools that may run as an MCP task (`execution.taskSupport: optional`): each returns a Switchboard task. */
export const TASK_TOOLS: ReadonlySet<string> = new Set(['submit_task', 'start_workflow']);

/**
 * The task methods of each era, each with the tool it is decided, scoped, rate-limited and audited as
 * (its Cedar action and scope family are that tool's). 2025-11-25: the core `tasks/*` methods;
 * 2026-07-28: the extension's (no `tasks/result`, no `tasks/list`).
 */
export const TASK_METHODS = {
  legacy: { 'tasks/get': 'get_task', 'tasks/result': 'get_task', 'tasks/list': 'list_tasks', 'tasks/cancel': 'cancel_task' },
  modern: { 'tasks/get': 'get_task', 'tasks/update': 'get_task', 'tasks/cancel': 'cancel_task' },
} as const satisfies Record<'legacy' | 'modern', Record<string, string>>;

export type TaskMethodEra = keyof typeof TASK_METHODS;

/** The tool a task method is decided as in `era`, or undefined when the method is no task method of that era. */
export const taskMethodTool = (era: TaskMethodEra, method: unknown): string | undefined => {
  const methods: Readonly<Record<string, string>> = TASK_METHODS[era];
  return typeof method === 'string' && Object.hasOwn(methods, method) ? methods[method] : undefined;
};

/** Whether a 2026-07-28 request's `_meta` declares the tasks extension in its client capabilities. */
export const declaresTasksExtension = (params: unknown): boolean => {
  const meta = (params as { _meta?: unknown } | undefined)?._meta;
  if (typeof meta !== 'object' || meta === null) return false;
  const capabilities = (meta as Record<string, unknown>)[CLIENT_CAPABILITIES_META];
  const extensions = (capabilities as { extensions?: unknown } | undefined)?.extensions;
  return typeof extensions === 'object' && extensions !== null && Object.hasOwn(extensions, TASKS_EXTENSION);
};

/** Whether a 2025-11-25 request asks to run as a task (`params.task`, task augmentation). */
export const asksForTask = (params: unknown): boolean => {
  const task = (params as { task?: unknown } | undefined)?.task;
  return typeof task === 'object' && task !== null && !Array.isArray(task);
};
