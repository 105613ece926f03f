import * as z from 'zod';

import { PRIORITIES } from '../contracts/priorities';

export { PRIORITIES, type Priority } from '../contracts/priorities';
/** Priorities, highest first (the contract's list). Each maps to its own FIFO queue. */
export const PrioritySchema = z.enum(PRIORITIES);

/** `waiting_approval`: a workflow run paused at an approval gate (the run's state machine waits for a decision). */
export const TASK_STATUSES = ['queued', 'running', 'waiting_approval', 'succeeded', 'failed', 'cancelled'] as const;
export const TaskStatusSchema = z.enum(TASK_STATUSES);
export type TaskStatus = z.infer<typeof TaskStatusSchema>;

export const TERMINAL_STATUSES: ReadonlySet<TaskStatus> = new Set(['succeeded', 'failed', 'cancelled']);
export const isTerminal = (status: TaskStatus): boolean => TERMINAL_STATUSES.has(status);
/** The statuses of a task that is acknowledged and not finished: what a tenant's in-flight quota counts. */
export const LIVE_STATUSES: readonly TaskStatus[] = TASK_STATUSES.filter((status) => !TERMINAL_STATUSES.has(status));

/** Task ids: `tsk_` + 26 lowercase base32 characters. */
export const TaskIdSchema = z.string().regex(/^tsk_[a-z2-7]{26}$/, 'not a task id');
export { TenantIdSchema } from '../contracts/tenant';
import { TenantIdSchema } from '../contracts/tenant';
export const CapabilitySchema = z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'capabilities are lowercase identifiers');
export const IdempotencyKeySchema = z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');
/** Tasks of a tenant that share an ordering key run one after another, in submission order. */
export const OrderingKeySchema = z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

export const TaskErrorSchema = z.object({ code: z.string(), message: z.string() }).strict();
export type TaskError = z.infer<typeof TaskErrorSchema>;

/** The error code of a task whose queue message reached its dead-letter queue. */
export const DEAD_LETTERED = 'DEAD_LETTERED';

/** Entries kept in a task's `priorityChanges` (promotion only goes up, so three at most in practice). */
export const MAX_PRIORITY_CHANGES = 3;

/** Why the escalator moved a queued task up: it waited past its level's SLA, or its deadline is near. */
export const PromotionReasonSchema = z.enum(['aged', 'deadline']);
export type PromotionReason = z.infer<typeof PromotionReasonSchema>;

/** One change of a queued task's priority, as get_task shows it. */
export const PriorityChangeSchema = z
  .object({ from: PrioritySchema, to: PrioritySchema, at: z.string(), reason: PromotionReasonSchema })
  .strict();
export type PriorityChange = z.infer<typeof PriorityChangeSchema>;

/** An open approval gate of a run. */
export const ApprovalSchema = z
  .object({
    stepId: z.string(),
    roles: z.array(z.string()).min(1),
    level: z.number().int().positive(),
    deadline: z.string(),
    prompt: z.string().optional(),
    /** The state machine's task token: the decision is sent with it. Never leaves the platform. */
    token: z.string(),
  })
  .strict();
export type Approval = z.infer<typeof ApprovalSchema>;

export const DecisionSchema = z
  .object({
    stepId: z.string(),
    level: z.number().int().positive(),
    decision: z.enum(['approved', 'rejected']),
    by: z.string(),
    roles: z.array(z.string()),
    comment: z.string().optional(),
    at: z.string(),
  })
  .strict();
export type Decision = z.infer<typeof DecisionSchema>;

/** The task as the domain sees it (storage keys are the repository's business). */
export const TaskSchema = z
  .object({
    tenantId: TenantIdSchema,
    taskId: TaskIdSchema,
    capability: CapabilitySchema,
    input: z.unknown(),
    priority: PrioritySchema,
    status: TaskStatusSchema,
    version: z.number().int().nonnegative(),
    attempts: z.number().int().nonnegative(),
    requestHash: z.string(),
    submittedBy: z.string(),
    deadline: z.string().datetime({ offset: true }).optional(),
    orderingKey: OrderingKeySchema.optional(),
    result: z.unknown().optional(),
    error: TaskErrorSchema.optional(),
    leaseUntil: z.string().optional(),
    /** The current claim of a pulled task (an external agent proves it holds the lease with it); a new claim, a new id. */
    leaseId: z.string().optional(),
    /** Run by an external agent that claims it over MCP (its capability is a pull capability), never by the worker. */
    pull: z.literal(true).optional(),
    /** A pulled step of a workflow run: its answer goes to the run's state machine with this token (never shown). */
    parent: z.object({ runId: z.string(), stepId: z.string(), token: z.string() }).strict().optional(),
    dispatchPending: z.boolean(),
    /** When an operator sent the task back to its queue after it was dead-lettered (at most once). */
    redrivenAt: z.string().optional(),
    /** Each promotion by the escalator, oldest first (at most MAX_PRIORITY_CHANGES). */
    priorityChanges: z.array(PriorityChangeSchema).max(MAX_PRIORITY_CHANGES).optional(),
    /** Set on a workflow run: the workflow's name (its capability is `workflow.<name>`). */
    workflow: z.string().optional(),
    /** A run's state machine execution (the latest; `starts` counts executions, resumes included). */
    execution: z.object({ arn: z.string(), starts: z.number().int().positive() }).strict().optional(),
    /** A run waiting at an approval gate: who may decide until when; the token is never shown. */
    approval: ApprovalSchema.optional(),
    /** Every decision on the run's gates, oldest first. */
    decisions: z.array(DecisionSchema).optional(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .strict();
export type Task = z.infer<typeof TaskSchema>;

/** The capability of a run of `workflow`. */
export const workflowCapability = (workflow: string) => `workflow.${workflow}`;

/** When a queued task started waiting at its current level: its last promotion, its redrive, or its creation. */
export const queuedSince = (task: Pick<Task, 'createdAt' | 'redrivenAt' | 'priorityChanges'>): string =>
  task.priorityChanges?.at(-1)?.at ?? task.redrivenAt ?? task.createdAt;

/** Whether the escalator may still promote the task, as `query` asks (queued at that priority, waited or deadline). */
export const isPromotable = (
  task: Task,
  query: { priority: string; waitingBefore: Date; deadlineBefore: Date },
): boolean =>
  task.status === 'queued' &&
  task.priority === query.priority &&
  task.priority !== 'critical' &&
  (Date.parse(queuedSince(task)) < query.waitingBefore.getTime() ||
    (task.deadline !== undefined && Date.parse(task.deadline) < query.deadlineBefore.getTime()));

/**
 * Whether a redrive may send the task back to its queue: failed with DEAD_LETTERED, and never
 * redriven before (a redriven task that is dead-lettered again stays failed for good).
 */
export const isRedrivable = (task: Pick<Task, 'status' | 'error' | 'redrivenAt'>): boolean =>
  task.status === 'failed' && task.error?.code === DEAD_LETTERED && task.redrivenAt === undefined;

/**
 * Whether an external agent may claim the task at `nowMs`: a pulled task that is queued, or running
 * with its lease run out (its agent went silent, or gave it back to be retried).
 */
export const isClaimable = (task: Pick<Task, 'pull' | 'status' | 'leaseUntil'>, nowMs: number): boolean =>
  task.pull === true &&
  (task.status === 'queued' || (task.status === 'running' && !(task.leaseUntil !== undefined && Date.parse(task.leaseUntil) > nowMs)));

/** The queue message: a pointer to the task record, never the source of truth. */
export const TaskMessageSchema = z
  .object({
    tenantId: TenantIdSchema,
    taskId: TaskIdSchema,
    priority: PrioritySchema,
  })
  .strict();
export type TaskMessage = z.infer<typeof TaskMessageSchema>;

/** What a caller may see of a task: the tools' output schema and the use-cases' result, in one. */
export const TaskViewSchema = z.object({
  taskId: z.string(),
  capability: z.string(),
  status: TaskStatusSchema,
  priority: PrioritySchema,
  result: z.unknown().optional(),
  error: TaskErrorSchema.optional(),
  deadline: z.string().optional(),
  orderingKey: z.string().optional(),
  priorityChanges: z.array(PriorityChangeSchema).optional(),
  /** Workflow runs: the workflow, each step as its record says, the open gate and the decisions. */
  workflow: z.string().optional(),
  steps: z
    .array(
      z.object({
        stepId: z.string(),
        kind: z.enum(['agent', 'approval']),
        status: z.string(),
        attempts: z.number(),
        output: z.unknown().optional(),
        error: TaskErrorSchema.optional(),
        startedAt: z.string(),
        finishedAt: z.string().optional(),
      }),
    )
    .optional(),
  approval: z.object({ stepId: z.string(), roles: z.array(z.string()), level: z.number(), deadline: z.string(), prompt: z.string().optional() }).optional(),
  decisions: z.array(DecisionSchema).optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type TaskView = z.infer<typeof TaskViewSchema>;

export const toView = (task: Task): TaskView => ({
  taskId: task.taskId,
  capability: task.capability,
  status: task.status,
  priority: task.priority,
  ...(task.result !== undefined ? { result: task.result } : {}),
  ...(task.error ? { error: task.error } : {}),
  ...(task.deadline ? { deadline: task.deadline } : {}),
  ...(task.orderingKey ? { orderingKey: task.orderingKey } : {}),
  ...(task.priorityChanges?.length ? { priorityChanges: task.priorityChanges } : {}),
  ...(task.workflow ? { workflow: task.workflow } : {}),
  ...(task.approval ? { approval: { stepId: task.approval.stepId, roles: task.approval.roles, level: task.approval.level, deadline: task.approval.deadline, ...(task.approval.prompt ? { prompt: task.approval.prompt } : {}) } } : {}),
  ...(task.decisions?.length ? { decisions: task.decisions } : {}),
  createdAt: task.createdAt,
  updatedAt: task.updatedAt,
});
