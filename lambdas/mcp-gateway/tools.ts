import { McpServer, type CallToolResult } from '@modelcontextprotocol/server';
import { authorizeTool, type AccessArguments, type AccessPolicy } from '../domain/access';
import * as z from 'zod';
import { DomainError, ForbiddenError, QuotaExceededError, RateLimitedError } from '../domain/errors';
import type { AuditStore } from '../domain/audit';
import { auditedChange, auditedRead, recordDenial, type AuditedCaller, type AuditedTool } from '../domain/use-cases/audited-call';
import { randomTaskId, taskIdFor } from '../domain/ids';
import { admitToolCall } from '../domain/principal-limits';
import type { PrincipalLimiter, RoleGrants, TaskServiceDeps } from '../domain/ports';
import type { Principal } from '../domain/principal';
import { CancelTaskInputSchema, cancelTask } from '../domain/use-cases/cancel-task';
import { GetTaskInputSchema, getTask, ListTasksInputSchema, listTasks } from '../domain/use-cases/read-tasks';
import { RedriveDeadLettersInputSchema, redriveDeadLetters } from '../domain/use-cases/redrive-dead-letters';
import { SubmitTaskInputSchema, submitTask } from '../domain/use-cases/submit-task';
import { PrioritySchema, TaskErrorSchema, TaskStatusSchema, TaskViewSchema, type TaskView } from '../domain/task';
import { DecideInputSchema, decideApproval, StartWorkflowInputSchema, startWorkflow } from '../domain/use-cases/workflow-runs';
import { ListAgentsInputSchema, listAgents } from '../domain/use-cases/list-agents';
import type { RegisterAgentDeps } from '../domain/use-cases/register-agents';
import { registerAgentTools } from './agent-tools';
import { registerAdminTools } from './admin-tools';
import { registerAuditTools, type AuditToolDeps } from './audit-tools';
import { registerTaskMethods, taskCreationError, type TaskMethodOptions } from './task-methods';
import { TASK_TOOLS, TASKS_EXTENSION, type TaskMethodEra } from '../contracts/mcp-tasks';
import { legacyTaskOf, modernTaskOf } from '../domain/mcp-tasks';
import {
  ClaimTaskInputSchema,
  claimTask,
  CompleteTaskInputSchema,
  completeTask,
  FailTaskInputSchema,
  failTask,
  HeartbeatTaskInputSchema,
  heartbeatTask,
  type PullOptions,
} from '../domain/use-cases/pull-tasks';
import type { AgentStateStore } from '../domain/agent-routing';
import { toolMetricsOf, toolResultCode } from '../domain/metrics';
import type { StepStore, WorkflowEngine } from '../domain/workflow-ports';

export type ToolDeps = TaskServiceDeps & {
  /** The tenant audit log: every call, allowed or denied, is recorded (docs/audit.md). */
  audit: AuditStore;
  /** verify_audit and query_audit (auditors); absent: not offered. */
  auditReading?: Omit<AuditToolDeps, 'audit'>;
  /** Decides every tool call with its arguments, and which tools tools/list shows (lib/policies). */
  access: AccessPolicy;
  workflows?: WorkflowEngine;
  steps?: StepStore;
  agentStates?: AgentStateStore;
  pull?: Partial<PullOptions>;
  /** Operators' registration of downstream MCP servers (register_agent / deregister_agent); absent: not offered. */
  agentAdmin?: Pick<RegisterAgentDeps, 'discover' | 'configuredAgentIds'>;
  /** Time-limited role grants (grant_role, revoke_role, list_role_grants); absent: not offered. */
  roleGrants?: RoleGrants;
  /** Tool calls per minute per principal (auth.limits); absent: unlimited. */
  limiter?: PrincipalLimiter;
  /** The MCP task methods' bounds (tasks/result's wait). */
  taskMethods?: TaskMethodOptions;
};

export const SERVER_INFO = { name: 'switchboard', version: '0.1.0' } as const;

/**
 * What submit_task and start_workflow answer: the task's id, status and priority at once; run as an
 * MCP task, its outcome once it is finished (tasks/result, tasks/get): the same with the result or the error.
 */
const SubmitOutputSchema = z.object({
  taskId: z.string(),
  status: TaskStatusSchema,
  priority: PrioritySchema,
  result: z.unknown().optional(),
  error: TaskErrorSchema.optional(),
});
const ListOutputSchema = z.object({ tasks: z.array(TaskViewSchema), nextCursor: z.string().optional() });
const CancelOutputSchema = z.object({ taskId: z.string(), status: TaskStatusSchema });
const ListAgentsOutputSchema = z.object({
  agents: z.array(
    z.object({
      agentId: z.string(),
      kind: z.string(),
      capabilities: z.array(z.object({ name: z.string(), description: z.string(), inputSchema: z.unknown().optional() })),
      maxConcurrency: z.number().optional(),
      inFlight: z.number().optional(),
      calls: z.number().optional(),
      ewmaLatencyMs: z.number().optional(),
      successRate: z.number().optional(),
      circuit: z.string(),
    }),
  ),
});
/** A claimed task under its lease, or `{ task: null }` when none was claimable (one object: an output schema is an object). */
const ClaimOutputSchema = z.object({
  taskId: z.string().optional(),
  capability: z.string().optional(),
  input: z.unknown().optional(),
  leaseId: z.string().optional(),
  leaseUntil: z.string().optional(),
  attempt: z.number().optional(),
  task: z.null().optional(),
});
const HeartbeatOutputSchema = z.object({ taskId: z.string(), leaseId: z.string(), leaseUntil: z.string() });
const DecideOutputSchema = z.object({ taskId: z.string(), status: TaskStatusSchema, decision: z.enum(['approved', 'rejected']) });
const RedriveOutputSchema = z.object({
  priority: PrioritySchema,
  redriven: z.array(z.object({ tenantId: z.string(), taskId: z.string() })),
});

/**
 * Runs a use-case and maps its outcome to a tool result: structured content on success, an
 * `isError` result naming the domain error's code otherwise. Unexpected errors are logged and
 * reported without internals.
 */
const run = async <T extends Record<string, unknown>>(
  deps: ToolDeps,
  tool: string,
  action: () => Promise<T>,
): Promise<CallToolResult> => {
  try {
    const structuredContent = await action();
    return { content: [{ type: 'text', text: JSON.stringify(structuredContent) }], structuredContent };
  } catch (error) {
    if (error instanceof QuotaExceededError || error instanceof RateLimitedError) {
      // Structured for clients that back off by themselves; _meta, since an error result's
      // structuredContent would not fit the tool's outputSchema.
      return {
        isError: true,
        content: [{ type: 'text', text: `${error.code}: ${error.message}` }],
        _meta: { code: error.code, retryAfterSeconds: error.retryAfterSeconds },
      };
    }
    if (error instanceof DomainError) {
      return { isError: true, content: [{ type: 'text', text: `${error.code}: ${error.message}` }] };
    }
    if (error instanceof z.ZodError) {
      return { isError: true, content: [{ type: 'text', text: `INVALID_INPUT: ${z.prettifyError(error)}` }] };
    }
    deps.logger.error('tool failed unexpectedly', { tool, error: error instanceof Error ? error.stack : String(error) });
    return { isError: true, content: [{ type: 'text', text: 'INTERNAL: the request could not be completed; retry later' }] };
  }
};

/** The tools that change nothing: one audit entry after the call; the others are bracketed by intent and outcome. */
export const READ_ONLY_TOOLS: ReadonlySet<string> = new Set(['get_task', 'list_tasks', 'list_agents', 'list_role_grants', 'verify_audit', 'query_audit']);
/** The administration tools: their entries are of kind `admin`. */
export const ADMIN_TOOLS: ReadonlySet<string> = new Set(['redrive_dead_letters', 'register_agent', 'deregister_agent', 'grant_role', 'revoke_role']);

/** What a tool call is for the audit log besides its name: its arguments (hashed) and what it acts on. */
export interface CallRecord {
  args: unknown;
  /** `task:<id>` when the call acts on a known task. */
  target?: string;
}

/**
 * A tool call decided by the access policy first: with its arguments that matter (defaults applied),
 * before the use-case runs; a denial is the tool error `FORBIDDEN: <tool> … is not permitted for roles …`.
 * Every call is recorded in the tenant's audit log: a denial (access or rate) with one entry, a read with
 * one entry, a change with an intent before it and an outcome after it (lambdas/domain/use-cases/audited-call.ts).
 */
export type DecidedRun = <T extends Record<string, unknown>>(tool: string, args: AccessArguments, action: () => Promise<T>, record: CallRecord) => Promise<CallToolResult>;

/**
 * The same decision, rate and audit for any call (a tool, or a task method decided as its tool): the
 * action's value, or the typed error of a denial or of the action. `record.action` names the call in
 * the audit log when it is not the tool (`tasks/get`).
 */
export type DecidedCall = <T>(tool: string, args: AccessArguments, action: () => Promise<T>, record: CallRecord & { action?: string }) => Promise<T>;

export const decidedCall = (deps: ToolDeps, caller: AuditedCaller): DecidedCall => async (tool, args, action, record) => {
  const auditDeps = { store: deps.audit, clock: deps.clock, logger: deps.logger };
  const call: AuditedTool = {
    tool: record.action ?? tool,
    kind: ADMIN_TOOLS.has(tool) ? 'admin' : 'tool',
    args: record.args,
    ...(record.target ? { target: record.target } : {}),
  };
  try {
    authorizeTool(deps.access, caller.principal, tool, args);
    // After the decision, so a denied call takes nothing from the principal's rate.
    if (deps.limiter) await admitToolCall({ limiter: deps.limiter }, caller.principal, deps.clock.now());
  } catch (error) {
    if (error instanceof ForbiddenError || error instanceof RateLimitedError) await recordDenial(auditDeps, caller, call, error.code);
    throw error;
  }
  return READ_ONLY_TOOLS.has(tool) ? auditedRead(auditDeps, caller, call, action) : auditedChange(auditDeps, caller, call, action);
};

export const decidedRun = (deps: ToolDeps, caller: AuditedCaller): DecidedRun => {
  const decide = decidedCall(deps, caller);
  return (tool, args, action, record) => metered(deps, tool, () => run(deps, tool, () => decide(tool, args, action, record)));
};

/** Every tool call counted with its latency and, when it failed, its code (docs/operations.md); a metrics failure never fails the call. */
const metered = async (deps: ToolDeps, tool: string, call: () => Promise<CallToolResult>): Promise<CallToolResult> => {
  const metrics = toolMetricsOf(deps.telemetry);
  const started = performance.now();
  const result = await call();
  try {
    const code = toolResultCode(result);
    metrics?.toolCall({ tool, latencyMs: performance.now() - started, ...(code ? { code } : {}) });
  } catch (error) {
    deps.logger.warn('tool metrics not recorded', { tool, error: String(error) });
  }
  return result;
};

/**
 * Puts `wrap` around the handler the SDK registered for `method` (it calls the SDK's, then changes
 * its answer). The SDK has no hook for this; its internal lookup is checked once here.
 */
const wrapHandler = <R>(server: McpServer, method: 'tools/list' | 'tools/call', wrap: (answer: R) => unknown): void => {
  const protocol = server.server as unknown as { _getRequestHandler(method: string): ((request: unknown, ctx: unknown) => Promise<R>) | undefined };
  const handler = protocol._getRequestHandler(method);
  if (!handler) throw new Error(`${method} handler missing: the MCP SDK changed`);
  server.server.setRequestHandler(method, async (request, ctx) => wrap(await handler(request, ctx)) as never);
};

/**
 * tools/list shows only the tools the principal may call (the same decision, with no arguments).
 * Every tool stays registered, so a call outside the role still reaches its decision and answers
 * FORBIDDEN (a hidden, disabled tool would answer the protocol's "Tool … disabled" instead).
 */
const listOnly = (server: McpServer, allowed: ReadonlySet<string>): void =>
  wrapHandler<{ tools: { name: string }[] }>(server, 'tools/list', (listed) => ({ ...listed, tools: listed.tools.filter((tool) => allowed.has(tool.name)) }));

/** A 2025-11-25 task-augmented call that created no task answers a JSON-RPC error, not a tool error (`taskCreationError`). */
const answerTaskCreation = (server: McpServer): void =>
  wrapHandler<{ isError?: boolean; task?: unknown; content?: unknown; _meta?: unknown }>(server, 'tools/call', (result) => {
    if (result.isError && result.task === undefined) throw taskCreationError(result);
    return result;
  });

/** Who calls, in which request: the principal comes from the verified token only. */
export interface ToolCaller {
  principal: Principal;
  clientId?: string;
  requestId: string;
  /**
   * The request's protocol era, and whether its client asked for an MCP task: 2025-11-25 a
   * task-augmented tools/call (`params.task`), 2026-07-28 the tasks extension in the request's client
   * capabilities. Absent: 2025-11-25, no task.
   */
  protocol?: { era: TaskMethodEra; tasks: boolean };
}

/**
 * A tool of TASK_TOOLS answered as the client asked: the tool's own result, or, when it asked for an
 * MCP task and the task was created, the task handle of its era (the Switchboard task id), after the task
 * is durably written: 2025-11-25 `{ task }`, 2026-07-28 a flat CreateTaskResult (`resultType: task`).
 */
const asTask = async (protocol: ToolCaller['protocol'], result: Promise<CallToolResult>, created: () => TaskView | undefined): Promise<CallToolResult> => {
  const answer = await result;
  const view = created();
  if (!protocol?.tasks || answer.isError || !view) return answer;
  if (protocol.era === 'legacy') return { ...answer, task: legacyTaskOf(view) } as CallToolResult;
  return { ...answer, resultType: 'task', ...modernTaskOf(view) } as CallToolResult;
};

/** One McpServer per request (stateless). */
export const createToolsServer = (deps: ToolDeps, caller: ToolCaller): McpServer => {
  const { principal } = caller;
  const era = caller.protocol?.era ?? 'legacy';
  const decided = decidedRun(deps, caller);
  const server = new McpServer(SERVER_INFO, {
    // Stateless: the tool list never changes under a client, and logging/setLevel (2025 era) is
    // accepted, though a JSON (non-streaming) response carries no log notifications. MCP tasks:
    // the 2025-11-25 capability, or the 2026-07-28 extension (never both: SEP-2663).
    capabilities: {
      tools: { listChanged: false },
      logging: {},
      ...(era === 'legacy'
        ? { tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } }
        : { extensions: { [TASKS_EXTENSION]: {} } }),
    },
    instructions:
      'Switchboard runs agent tasks. submit_task queues one (capabilities: ' +
      `${[...deps.agents.capabilities(), ...(deps.pullCapabilities ?? [])].join(', ')}); poll get_task until its status is succeeded, failed or cancelled.` +
      (deps.pullCapabilities?.length ? ' External agents (role agent) pull the tasks of ' + deps.pullCapabilities.join(', ') + ' with claim_task.' : ''),
  });

  server.registerTool(
    'submit_task',
    {
      title: 'Submit a task',
      description: 'Queue a task for an agent capability. Returns at once with the task id; poll get_task for the result.',
      inputSchema: SubmitTaskInputSchema,
      outputSchema: SubmitOutputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (args) => {
      // The id is chosen before the call, so the intent entry names the task it creates.
      const taskId = args.idempotencyKey ? taskIdFor(principal.tenantId, args.idempotencyKey) : randomTaskId();
      let created: TaskView | undefined;
      return asTask(caller.protocol, decided('submit_task', { capability: args.capability, priority: args.priority ?? 'normal' }, async () => {
        const task = (created = await submitTask(deps, principal, args, { taskId }));
        return { taskId: task.taskId, status: task.status, priority: task.priority };
      }, { args, target: `task:${taskId}` }), () => created);
    },
  );

  server.registerTool(
    'get_task',
    {
      title: 'Get a task',
      description: 'Read one task of your tenant: status, and its result or error once finished.',
      inputSchema: GetTaskInputSchema,
      outputSchema: TaskViewSchema,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args) => decided('get_task', {}, async () => ({ ...(await getTask(deps, principal, args)) }), { args, target: `task:${args.taskId}` }),
  );

  server.registerTool(
    'list_tasks',
    {
      title: 'List tasks',
      description: 'List your tenant\'s tasks, newest first, optionally by status. Page with nextCursor.',
      inputSchema: ListTasksInputSchema,
      outputSchema: ListOutputSchema,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args) => decided('list_tasks', {}, () => listTasks(deps, principal, args), { args }),
  );

  server.registerTool(
    'cancel_task',
    {
      title: 'Cancel a task',
      description: 'Cancel a queued or running task. Cancelling twice is harmless; a finished task cannot be cancelled.',
      inputSchema: CancelTaskInputSchema,
      outputSchema: CancelOutputSchema,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    (args) => decided('cancel_task', {}, () => cancelTask(deps, principal, args), { args, target: `task:${args.taskId}` }),
  );

  server.registerTool(
    'redrive_dead_letters',
    {
      title: 'Redrive dead letters',
      description:
        'Operator or admin: send tasks of one priority that failed with DEAD_LETTERED back to their queue (by tenant, oldest first). ' +
        'Each task is redriven at most once; an operator redrives every tenant\'s, an admin its own tenant\'s. Call again until redriven is empty.',
      inputSchema: RedriveDeadLettersInputSchema,
      outputSchema: RedriveOutputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (args) => {
      // Every tenant's when the policy permits it (operators), else the caller's own tenant's (admins).
      const anyTenant = deps.access.decide(principal, 'redrive_dead_letters', { anyTenant: true }).allowed;
      return decided('redrive_dead_letters', { anyTenant }, async () => ({ ...(await redriveDeadLetters(deps, principal, args, { anyTenant })) }), { args });
    },
  );

  server.registerTool(
    'list_agents',
    {
      title: 'List agents',
      description:
        'The capabilities you can use in submit_task and in workflow steps, by agent: each capability\'s description and input schema, ' +
        'and for routed agents their load, latency, success rate and circuit state.',
      inputSchema: ListAgentsInputSchema,
      outputSchema: ListAgentsOutputSchema,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args) => decided('list_agents', {}, async () => ({ ...(await listAgents(deps, principal, args)) }), { args }),
  );

  // External agents pull work (role agent).
  server.registerTool(
    'claim_task',
    {
      title: 'Claim a task (external agents)',
      description:
        'Agent role: claim your tenant\'s oldest claimable task of the pull capabilities you serve, under a lease. ' +
        'Keep it with heartbeat_task before leaseUntil, then complete_task or fail_task with the leaseId. ' +
        'Answers { task: null } when none is claimable (after waitSeconds of long polling).',
      inputSchema: ClaimTaskInputSchema,
      outputSchema: ClaimOutputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (args) => decided('claim_task', {}, async () => ({ ...(await claimTask(deps, principal, args)) }), { args }),
  );
  server.registerTool(
    'heartbeat_task',
    {
      title: 'Extend a claim\'s lease',
      description: 'Agent role: extend your lease on a claimed task. Refused when the lease is no longer yours or already ran out (stop working on it).',
      inputSchema: HeartbeatTaskInputSchema,
      outputSchema: HeartbeatOutputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    (args) => decided('heartbeat_task', {}, () => heartbeatTask(deps, principal, args), { args, target: `task:${args.taskId}` }),
  );
  server.registerTool(
    'complete_task',
    {
      title: 'Complete a claimed task',
      description: 'Agent role: record the output of a task you claimed; it succeeds. Refused when your lease is no longer valid.',
      inputSchema: CompleteTaskInputSchema,
      outputSchema: CancelOutputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (args) => decided('complete_task', {}, () => completeTask(deps, principal, args), { args, target: `task:${args.taskId}` }),
  );
  server.registerTool(
    'fail_task',
    {
      title: 'Fail a claimed task',
      description:
        'Agent role: report that a task you claimed failed. retryable with attempts left: it is queued again for the next claim; ' +
        'otherwise it fails with your error code. Refused when your lease is no longer valid.',
      inputSchema: FailTaskInputSchema,
      outputSchema: CancelOutputSchema,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    },
    (args) => decided('fail_task', {}, () => failTask(deps, principal, args), { args, target: `task:${args.taskId}` }),
  );

  const workflows = deps.workflows;
  if (workflows) {
    server.registerTool(
      'start_workflow',
      {
        title: 'Start a workflow run',
        description:
          `Start a run of a multi-agent workflow (deployed: ${workflows.workflows().join(', ')}). Returns at once with the run's task id; ` +
          'get_task shows its status and each step; cancel_task stops it.',
        inputSchema: StartWorkflowInputSchema,
        outputSchema: SubmitOutputSchema,
        annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      },
      (args) =>
        {
          const taskId = args.idempotencyKey ? taskIdFor(principal.tenantId, args.idempotencyKey) : randomTaskId();
          let created: TaskView | undefined;
          return asTask(caller.protocol, decided('start_workflow', { workflow: args.workflow, priority: args.priority ?? 'normal' }, async () => {
            const task = (created = await startWorkflow(deps, principal, args, { taskId }));
            return { taskId: task.taskId, status: task.status, priority: task.priority };
          }, { args, target: `task:${taskId}` }), () => created);
        },
    );
    for (const [name, decision] of [['approve_task', 'approved'], ['reject_task', 'rejected']] as const) {
      server.registerTool(
        name,
        {
          title: decision === 'approved' ? 'Approve a waiting run' : 'Reject a waiting run',
          description:
            `Approver or admin: ${decision === 'approved' ? 'approve' : 'reject'} the approval gate a workflow run waits at (status waiting_approval). ` +
            'The gate names the roles that may decide; a run\'s submitter never decides it. The decision is recorded on the run.',
          inputSchema: DecideInputSchema,
          outputSchema: DecideOutputSchema,
          annotations: { readOnlyHint: false, destructiveHint: decision === 'rejected', idempotentHint: false, openWorldHint: false },
        },
        (args) =>
          decided(name, {}, async () => {
            const decided = await decideApproval({ ...deps, workflows }, principal, args, decision);
            return { taskId: decided.taskId, status: decided.status, decision };
          }, { args, target: `task:${args.taskId}` }),
      );
    }
  }

  if (deps.agentStates && deps.agentAdmin) {
    registerAgentTools(server, { ...deps.agentAdmin, agentStates: deps.agentStates, clock: deps.clock, logger: deps.logger }, principal, decided);
  }

  if (deps.roleGrants) registerAdminTools(server, { roleGrants: deps.roleGrants, clock: deps.clock }, principal, decided);

  if (deps.auditReading) registerAuditTools(server, { audit: deps.audit, ...deps.auditReading }, principal, decided);

  // MCP tasks: the task methods of the era, and the tools that may run as one say so in tools/list.
  registerTaskMethods(server, deps, caller, era, decidedCall(deps, caller), deps.taskMethods);
  const registered = (server as unknown as { _registeredTools: Record<string, { execution?: unknown }> })._registeredTools;
  for (const name of TASK_TOOLS) if (registered[name]) registered[name].execution = { taskSupport: 'optional' };

  if (era === 'legacy' && caller.protocol?.tasks) answerTaskCreation(server);

  listOnly(server, deps.access.allowedTools(principal));
  return server;
};
