import { ProtocolError, ProtocolErrorCode, type McpServer } from '@modelcontextprotocol/server';
import * as z from 'zod';
import { FORBIDDEN, RELATED_TASK_META, TASK_METHODS, TASK_RESULT_TIMEOUT, THROTTLED, type TaskMethodEra } from '../contracts';
import { ConcurrencyError, DomainError, ForbiddenError, InvalidTransitionError, NotFoundError, RateLimitedError, ValidationError } from '../domain/errors';
import { detailedTaskOf, finalToolResult, isPlatformFailure, legacyTaskOf, protocolErrorOf } from '../domain/mcp-tasks';
import { isTerminal, type TaskView } from '../domain/task';
import { cancelTask } from '../domain/use-cases/cancel-task';
import { getTask, listTasks } from '../domain/use-cases/read-tasks';
import { toolMetricsOf, toolResultCode } from '../domain/metrics';
import type { DecidedCall, ToolCaller, ToolDeps } from './tools';

/**
 * The MCP task methods (docs/protocol.md, "MCP tasks"), served from the task store as get_task,
 * list_tasks and cancel_task are: statelessly (every answer is read from the store), for the
 * caller's tenant only, each decided, rate-limited and audited as the tool it stands for
 * (TASK_METHODS). The SDK routes the methods; it keeps no task of its own.
 *
 * 2025-11-25: tasks/get, tasks/result (waits, within a bound, for a terminal status), tasks/list,
 * tasks/cancel (a terminal task: -32602). 2026-07-28 (the tasks extension; the edge answers -32021
 * to a request that does not declare it): tasks/get with the result or error inlined, tasks/update
 * and tasks/cancel acknowledged with an empty result (Switchboard tasks never ask their client for input).
 */

export interface TaskMethodOptions {
  /** How long tasks/result waits for a terminal status before answering -32001 (below API Gateway's 29 s). */
  resultWaitMs?: number;
  /** How often tasks/result re-reads the task while it waits. */
  resultPollMs?: number;
}

export const DEFAULT_RESULT_WAIT_MS = 10_000;
const DEFAULT_RESULT_POLL_MS = 1_000;

/** Params are checked by the handlers (short messages); the SDK's own check only requires an object. */
const AnyParams = z.looseObject({});
const TaskIdParams = z.looseObject({ taskId: z.string() });
const CursorParams = z.looseObject({ cursor: z.string().optional() });

const paramsError = (message: string) => new ProtocolError(ProtocolErrorCode.InvalidParams, message);

/** The JSON-RPC error of a failed task method: never internals, the domain code in `data`. */
export const toProtocolError = (error: unknown, taskId: string | undefined, deps: Pick<ToolDeps, 'logger'>, method: string): ProtocolError => {
  if (error instanceof ProtocolError) return error;
  // An unknown id, a malformed one and another tenant's task are one answer (-32602, as the spec asks).
  if (error instanceof NotFoundError || error instanceof z.ZodError) return paramsError(`task ${taskId ?? ''} not found`.replace('  ', ' '));
  if (error instanceof ForbiddenError) return new ProtocolError(FORBIDDEN.code, `FORBIDDEN: ${error.message}`, { code: error.code });
  if (error instanceof RateLimitedError) {
    return new ProtocolError(THROTTLED.code, `RATE_LIMITED: ${error.message}`, { code: error.code, retryAfterSeconds: error.retryAfterSeconds });
  }
  if (error instanceof InvalidTransitionError) return paramsError(`${error.code}: ${error.message}`);
  if (error instanceof ValidationError) return paramsError(`Invalid params: ${error.message}`);
  if (error instanceof DomainError) return new ProtocolError(ProtocolErrorCode.InvalidRequest, `${error.code}: ${error.message}`, { code: error.code });
  // A fault of ours (logged with its stack here, never sent): -32603, in-band on HTTP 200 as every handler error is.
  deps.logger.error('task method failed unexpectedly', { method, error: error instanceof Error ? error.stack : String(error) });
  return new ProtocolError(ProtocolErrorCode.InternalError, 'INTERNAL: the request could not be completed; retry later', { code: 'INTERNAL' });
};

/** Tool error codes of a call that created no task, as the JSON-RPC error a 2025 task-augmented call answers instead. */
const CREATION_ERRORS: Readonly<Record<string, number>> = {
  FORBIDDEN: FORBIDDEN.code,
  RATE_LIMITED: THROTTLED.code,
  QUOTA_EXCEEDED: THROTTLED.code,
  INVALID_INPUT: ProtocolErrorCode.InvalidParams,
  UNKNOWN_CAPABILITY: ProtocolErrorCode.InvalidParams,
  UNKNOWN_WORKFLOW: ProtocolErrorCode.InvalidParams,
  IDEMPOTENCY_CONFLICT: ProtocolErrorCode.InvalidParams,
  UNKNOWN: ProtocolErrorCode.InvalidParams,
  INTERNAL: ProtocolErrorCode.InternalError,
};

/**
 * 2025-11-25: a task-augmented tools/call is answered with a CreateTaskResult or a JSON-RPC error, so
 * a call that created no task (refused, over quota, bad arguments) answers its tool error as a
 * JSON-RPC error: the code's class, the text `CODE: message`, `data.code` (and `retryAfterSeconds`).
 */
export const taskCreationError = (result: { isError?: boolean; content?: unknown; _meta?: unknown }): ProtocolError => {
  const code = toolResultCode(result) ?? 'UNKNOWN';
  const first = Array.isArray(result.content) ? (result.content[0] as { text?: unknown } | undefined) : undefined;
  const text = typeof first?.text === 'string' ? first.text.slice(0, 500) : code;
  const retryAfterSeconds = (result._meta as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  return new ProtocolError(CREATION_ERRORS[code] ?? ProtocolErrorCode.InvalidRequest, text, {
    code,
    ...(typeof retryAfterSeconds === 'number' ? { retryAfterSeconds } : {}),
  });
};

const taskIdOf = (params: { taskId?: unknown }): string => {
  const taskId = params.taskId;
  if (typeof taskId !== 'string' || taskId.length === 0 || taskId.length > 256) throw paramsError('Invalid params: taskId must be a task id');
  return taskId;
};

/** Registers the task methods of `era` on a request's server. */
export const registerTaskMethods = (
  server: McpServer,
  deps: ToolDeps,
  caller: ToolCaller,
  era: TaskMethodEra,
  decide: DecidedCall,
  options: TaskMethodOptions = {},
): void => {
  const { principal } = caller;
  const metrics = toolMetricsOf(deps.telemetry);

  /** One method call: decided as its tool, metered under the method's name, errors mapped once. */
  const answer = async <T>(method: string, taskId: string | undefined, args: unknown, action: () => Promise<T>): Promise<T> => {
    const tool = (TASK_METHODS[era] as Readonly<Record<string, string>>)[method]!;
    const started = performance.now();
    try {
      const value = await decide(tool, {}, action, { args, action: method, ...(taskId && /^tsk_/.test(taskId) ? { target: `task:${taskId}` } : {}) });
      metrics?.toolCall({ tool: method, latencyMs: performance.now() - started });
      return value;
    } catch (error) {
      const mapped = toProtocolError(error, taskId, deps, method);
      const code = (mapped.data as { code?: string } | undefined)?.code ?? (mapped.code === ProtocolErrorCode.InvalidParams ? 'NOT_FOUND' : 'ERROR');
      metrics?.toolCall({ tool: method, latencyMs: performance.now() - started, code });
      throw mapped;
    }
  };
  const read = (taskId: string): Promise<TaskView> => getTask(deps, principal, { taskId });
  const protocol = server.server;

  protocol.setRequestHandler('tasks/get', { params: TaskIdParams }, async (params) => {
    const taskId = taskIdOf(params);
    const view = await answer('tasks/get', taskId, params, () => read(taskId));
    return (era === 'legacy' ? legacyTaskOf(view) : detailedTaskOf(view)) as never;
  });

  protocol.setRequestHandler('tasks/cancel', { params: TaskIdParams }, async (params) => {
    const taskId = taskIdOf(params);
    if (era === 'legacy') {
      // 2025-11-25: a task already terminal cannot be cancelled (-32602); otherwise the cancelled task.
      const view = await answer('tasks/cancel', taskId, params, async () => {
        const current = await read(taskId);
        if (isTerminal(current.status)) throw new InvalidTransitionError(`task ${taskId} is already ${current.status}`);
        await cancelTask(deps, principal, { taskId });
        return read(taskId);
      });
      return legacyTaskOf(view) as never;
    }
    // 2026-07-28: an empty acknowledgement, on a terminal task too (idempotent); the status shows on tasks/get.
    await answer('tasks/cancel', taskId, params, async () => {
      const current = await read(taskId);
      if (!isTerminal(current.status)) {
        await cancelTask(deps, principal, { taskId }).catch((error: unknown) => {
          // It reached a terminal status meanwhile: the acknowledgement stands.
          if (!(error instanceof InvalidTransitionError || error instanceof ConcurrencyError)) throw error;
        });
      }
      return current.taskId;
    });
    return {} as never;
  });

  if (era === 'legacy') {
    protocol.setRequestHandler('tasks/result', { params: TaskIdParams }, async (params) => {
      const taskId = taskIdOf(params);
      const waitMs = options.resultWaitMs ?? DEFAULT_RESULT_WAIT_MS;
      const pollMs = options.resultPollMs ?? DEFAULT_RESULT_POLL_MS;
      const view = await answer('tasks/result', taskId, params, async () => {
        const until = Date.now() + waitMs;
        for (;;) {
          const current = await read(taskId);
          if (isTerminal(current.status)) return current;
          if (Date.now() + pollMs > until) {
            throw new ProtocolError(TASK_RESULT_TIMEOUT, `task ${taskId} is still ${current.status} after ${Math.round(waitMs / 1000)} s; call tasks/result again, or poll tasks/get`, {
              code: 'TASK_NOT_FINISHED',
              status: current.status,
            });
          }
          await new Promise((resolve) => setTimeout(resolve, pollMs));
        }
      });
      // A failure of the platform is the protocol error it is in 2026 too (-32603); the work's failure, a tool error.
      if (isPlatformFailure(view)) {
        const error = protocolErrorOf(view);
        throw new ProtocolError(error.code, error.message, error.data);
      }
      const result = finalToolResult(view);
      return { ...result, _meta: { ...result._meta, [RELATED_TASK_META]: { taskId } } } as never;
    });

    protocol.setRequestHandler('tasks/list', { params: CursorParams }, async (params) => {
      const cursor = params.cursor;
      if (cursor !== undefined && (cursor.length === 0 || cursor.length > 2048)) throw paramsError('Invalid params: cursor must be a nextCursor of tasks/list');
      const page = await answer('tasks/list', undefined, params, () => listTasks(deps, principal, { limit: 20, ...(cursor ? { cursor } : {}) }));
      return { tasks: page.tasks.map(legacyTaskOf), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) } as never;
    });
  } else {
    // Switchboard tasks never ask their client for input: an update of a task the caller may see is acknowledged, its responses ignored.
    protocol.setRequestHandler('tasks/update', { params: AnyParams }, async (params) => {
      const taskId = taskIdOf(params);
      await answer('tasks/update', taskId, { taskId }, () => read(taskId));
      return {} as never;
    });
  }
};
