import * as z from 'zod';
import { IdempotencyConflictError, QuotaExceededError, UnknownCapabilityError, ValidationError } from '../errors';
import { randomTaskId, stableHash, taskIdFor } from '../ids';
import { nestsDeeperThan } from '../json-limits';
import type { TaskServiceDeps } from '../ports';
import type { Principal } from '../principal';
import {
  CapabilitySchema,
  IdempotencyKeySchema,
  OrderingKeySchema,
  PrioritySchema,
  toView,
  type Task,
  type TaskView,
} from '../task';
import { dispatch } from './dispatch';

/** Largest accepted task input, as serialized JSON. */
export const MAX_INPUT_BYTES = 64 * 1024;
/** Deepest accepted nesting of arrays and objects in a task input (`{"a":[1]}` is 2). */
export const MAX_INPUT_DEPTH = 32;

export const SubmitTaskInputSchema = z
  .object({
    capability: CapabilitySchema.describe('The agent capability to run, e.g. "echo".'),
    input: z.unknown().describe('The input handed to the agent (any JSON value).'),
    priority: PrioritySchema.default('normal').describe('Queue priority; default normal.'),
    idempotencyKey: IdempotencyKeySchema.optional().describe(
      'Retrying with the same key returns the first task instead of creating another.',
    ),
    deadline: z
      .string()
      .datetime({ offset: true })
      .optional()
      .describe('ISO-8601 time after which the task fails instead of running.'),
    orderingKey: OrderingKeySchema.optional().describe(
      'Tasks of yours with the same ordering key (and priority) run one after another, in submission order. ' +
        'Without one, a task runs as soon as a worker is free, alongside your other tasks.',
    ),
  })
  .strict();
export type SubmitTaskInput = z.input<typeof SubmitTaskInputSchema>;

export type SubmitTaskDeps = TaskServiceDeps;

/** Creates an admitted task; when a racing submit of the same key created it first, the slot taken for this one goes back. */
const createAdmitted = async (deps: SubmitTaskDeps, task: Task) => {
  const stored = await deps.tasks.create(task);
  if (!stored.created) await deps.quota?.releaseInFlight(task.tenantId);
  return stored;
};

/** `taskId`: the id of a task without an idempotency key, when the caller chose it first (the audit intent names it). */
export interface SubmitOptions {
  taskId?: string;
}

export const submitTask = async (
  deps: SubmitTaskDeps,
  principal: Principal,
  rawInput: SubmitTaskInput,
  options: SubmitOptions = {},
): Promise<TaskView> => {
  const request = SubmitTaskInputSchema.parse(rawInput);
  // A pull capability's task is run by an external agent that claims it (claim_task): any JSON input.
  const pull = deps.pullCapabilities?.includes(request.capability) === true;
  const agent = pull ? undefined : deps.agents.get(request.capability);
  if (!pull && !agent) throw new UnknownCapabilityError(request.capability, [...deps.agents.capabilities(), ...(deps.pullCapabilities ?? [])]);
  if (nestsDeeperThan(request.input, MAX_INPUT_DEPTH)) {
    throw new ValidationError(`input is nested deeper than ${MAX_INPUT_DEPTH} levels`);
  }
  const fits = agent?.input?.safeParse(request.input ?? null);
  if (fits && !fits.success) {
    const issue = fits.error.issues[0]!;
    const where = issue.path.length ? `input.${issue.path.join('.')}` : 'input';
    throw new ValidationError(`${where} does not fit capability "${request.capability}": ${issue.message}`.slice(0, 300));
  }
  const serializedInput = JSON.stringify(request.input ?? null);
  if (Buffer.byteLength(serializedInput) > MAX_INPUT_BYTES) {
    throw new ValidationError(`input is larger than ${MAX_INPUT_BYTES} bytes`);
  }
  const now = deps.clock.now();
  if (request.deadline && Date.parse(request.deadline) <= now.getTime()) {
    throw new ValidationError('deadline must be in the future');
  }

  const requestHash = stableHash({
    capability: request.capability,
    input: request.input ?? null,
    priority: request.priority,
    deadline: request.deadline,
    orderingKey: request.orderingKey,
  });
  const task: Task = {
    tenantId: principal.tenantId,
    taskId: request.idempotencyKey ? taskIdFor(principal.tenantId, request.idempotencyKey) : (options.taskId ?? randomTaskId()),
    capability: request.capability,
    input: request.input ?? null,
    priority: request.priority,
    status: 'queued',
    version: 0,
    attempts: 0,
    requestHash,
    submittedBy: principal.subject,
    ...(request.deadline ? { deadline: new Date(request.deadline).toISOString() } : {}),
    ...(request.orderingKey !== undefined ? { orderingKey: request.orderingKey } : {}),
    ...(pull ? { pull: true as const } : {}),
    dispatchPending: true,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
  };

  return accept(deps, principal, task, request.idempotencyKey);
};

/**
 * The acknowledged half of a submit, shared by tasks and workflow runs: a replay of an idempotency
 * key answers its task (never throttled: it creates nothing); otherwise the tenant's quota admits
 * it, the task is written, then dispatched (the outbox: `dispatchPending` until the queue has it).
 */
export const accept = async (deps: SubmitTaskDeps, principal: Principal, task: Task, idempotencyKey: string | undefined): Promise<TaskView> => {
  const now = new Date(task.createdAt);
  const replay = idempotencyKey && deps.quota ? await deps.tasks.get(task.tenantId, task.taskId) : undefined;
  if (!replay && deps.quota) {
    const decision = await deps.quota.admitSubmit(principal.tenantId, now);
    if (!decision.admitted) {
      deps.logger.info('submit throttled', { tenantId: principal.tenantId, limit: decision.limit, retryAfterSeconds: decision.retryAfterSeconds });
      throw new QuotaExceededError(decision.retryAfterSeconds, decision.limit === 'inFlight' ? decision.maxInFlight : undefined);
    }
  }

  const stored = replay ? { created: false, task: replay } : await createAdmitted(deps, task);
  if (!stored.created && stored.task.requestHash !== task.requestHash) throw new IdempotencyConflictError();
  // A replay of a task whose first dispatch never completed finishes that dispatch now.
  const current = stored.task.dispatchPending ? await dispatch(deps, stored.task) : stored.task;
  deps.telemetry?.record(stored.created ? 'submitted' : 'replayed', current);
  deps.logger.info(stored.created ? 'task submitted' : 'task replayed', {
    tenantId: task.tenantId,
    taskId: current.taskId,
    priority: current.priority,
    ...(current.workflow ? { workflow: current.workflow } : {}),
  });
  return toView(current);
};
