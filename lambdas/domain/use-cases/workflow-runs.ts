import * as z from 'zod';
import { RUN_ERRORS, STEP_ERRORS, WorkflowNameSchema, type StepEvent } from '../../contracts/workflows';
import { ForbiddenError, InvalidTransitionError, NotFoundError, ValidationError } from '../errors';
import { randomTaskId, stableHash, taskIdFor } from '../ids';
import { nestsDeeperThan } from '../json-limits';
import type { TaskServiceDeps } from '../ports';
import type { Principal } from '../principal';
import { IdempotencyKeySchema, isTerminal, PrioritySchema, TaskIdSchema, toView, workflowCapability, type Task, type TaskView } from '../task';
import { decide, fail, openGate, recordDecision, retryOnConflict, succeed, type LifecycleDeps } from '../task-lifecycle';
import type { StepStore, WorkflowEngine } from '../workflow-ports';
import { accept, MAX_INPUT_BYTES, MAX_INPUT_DEPTH, type SubmitOptions } from './submit-task';

export const StartWorkflowInputSchema = z
  .object({
    workflow: WorkflowNameSchema.describe('The workflow to run (list_workflows names them).'),
    input: z.record(z.string(), z.unknown()).default({}).describe('The run\'s input: a JSON object its steps map from.'),
    priority: PrioritySchema.default('normal').describe('Queue priority of the run\'s start; default normal.'),
    idempotencyKey: IdempotencyKeySchema.optional().describe('Retrying with the same key returns the first run instead of starting another.'),
    deadline: z.string().datetime({ offset: true }).optional().describe('ISO-8601 time after which the run fails instead of starting.'),
  })
  .strict();
export type StartWorkflowInput = z.input<typeof StartWorkflowInputSchema>;

export type WorkflowDeps = TaskServiceDeps & { workflows?: WorkflowEngine };

/** A run is a task (kind workflow): acknowledged, queued by priority, started by the worker, driven by its state machine. */
export const startWorkflow = async (deps: WorkflowDeps, principal: Principal, rawInput: StartWorkflowInput, options: SubmitOptions = {}): Promise<TaskView> => {
  const request = StartWorkflowInputSchema.parse(rawInput);
  const known = deps.workflows?.workflows() ?? [];
  if (!known.includes(request.workflow)) {
    throw new ValidationError(`unknown workflow "${request.workflow}"; deployed: ${known.join(', ') || 'none'}`);
  }
  if (nestsDeeperThan(request.input, MAX_INPUT_DEPTH)) throw new ValidationError(`input is nested deeper than ${MAX_INPUT_DEPTH} levels`);
  if (Buffer.byteLength(JSON.stringify(request.input)) > MAX_INPUT_BYTES) throw new ValidationError(`input is larger than ${MAX_INPUT_BYTES} bytes`);
  const now = deps.clock.now();
  if (request.deadline && Date.parse(request.deadline) <= now.getTime()) throw new ValidationError('deadline must be in the future');
  const task: Task = {
    tenantId: principal.tenantId,
    taskId: request.idempotencyKey ? taskIdFor(principal.tenantId, request.idempotencyKey) : (options.taskId ?? randomTaskId()),
    capability: workflowCapability(request.workflow),
    workflow: request.workflow,
    input: request.input,
    priority: request.priority,
    status: 'queued',
    version: 0,
    attempts: 0,
    requestHash: stableHash({ workflow: request.workflow, input: request.input, priority: request.priority, deadline: request.deadline }),
    submittedBy: principal.subject,
    ...(request.deadline ? { deadline: new Date(request.deadline).toISOString() } : {}),
    dispatchPending: true,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
  };
  return accept(deps, principal, task, request.idempotencyKey);
};

export const DecideInputSchema = z
  .object({
    taskId: TaskIdSchema.describe('The workflow run waiting for approval.'),
    comment: z.string().max(1000).optional().describe('Why; recorded with the decision.'),
  })
  .strict();
export type DecideInput = z.infer<typeof DecideInputSchema>;

/**
 * An approver decides the gate a run waits at: the decision goes to the state machine first (its
 * task token: whoever answers first wins, a second answer is refused there), then is recorded on
 * the run. The gate's roles must include one of the caller's, and the run's submitter never
 * decides their own run.
 */
export const decideApproval = async (
  deps: LifecycleDeps & { workflows?: WorkflowEngine },
  principal: Principal,
  rawInput: DecideInput,
  decision: 'approved' | 'rejected',
): Promise<TaskView & { decision: string }> => {
  const { taskId, comment } = DecideInputSchema.parse(rawInput);
  const run = await deps.tasks.get(principal.tenantId, taskId);
  if (!run || run.workflow === undefined) throw new NotFoundError(`workflow run ${taskId} not found`);
  const gate = run.approval;
  if (run.status !== 'waiting_approval' || !gate) throw new InvalidTransitionError(`run ${taskId} is ${run.status}: no approval is waiting`);
  if (!principal.roles.some((role) => gate.roles.includes(role))) {
    throw new ForbiddenError(`this gate is decided by: ${gate.roles.join(', ')}`);
  }
  if (run.submittedBy === principal.subject) throw new ForbiddenError('the run\'s submitter cannot approve or reject it');
  if (!deps.workflows) throw new InvalidTransitionError('workflows are not enabled here');
  const at = deps.clock.now().toISOString();
  const record = { stepId: gate.stepId, level: gate.level, decision, by: principal.subject, roles: principal.roles, ...(comment ? { comment } : {}), at };
  const sent =
    decision === 'approved'
      ? await deps.workflows.sendSuccess(gate.token, { decision, by: principal.subject, ...(comment ? { comment } : {}), at })
      : await deps.workflows.sendFailure(gate.token, STEP_ERRORS.rejected, `rejected by ${principal.subject}${comment ? `: ${comment}` : ''}`.slice(0, 500));
  if (!sent) throw new InvalidTransitionError(`run ${taskId}: the gate was already decided or timed out`);
  const decided = await retryOnConflict(async () => {
    const latest = (await deps.tasks.get(run.tenantId, run.taskId))!;
    if (latest.status === 'waiting_approval' && latest.approval?.token === gate.token) return decide(deps, latest, record);
    // The state machine ran ahead on this decision (a rejection already finished the run): record it all the same.
    if (latest.decisions?.some((d) => d.at === record.at && d.by === record.by)) return latest;
    return recordDecision(deps, latest, record);
  });
  return { ...toView(decided), decision };
};


/**
 * The workflow function's `approve` action: the run waits at a gate (Task state with a task token).
 * Repeated (a Lambda retry) with the same token, it changes nothing.
 */
export const openApprovalGate = async (
  deps: LifecycleDeps & { steps: StepStore; workflows?: WorkflowEngine },
  event: Extract<StepEvent, { action: 'approve' }>,
): Promise<void> => {
  const now = deps.clock.now();
  // A resumed run (a new execution after its first was lost) meets a gate decided before: the
  // recorded decision answers it again, nobody is asked twice.
  const decided = (await deps.tasks.get(event.run.tenantId, event.run.taskId))?.decisions?.findLast((d) => d.stepId === event.stepId);
  if (decided && deps.workflows) {
    if (decided.decision === 'approved') {
      await deps.workflows.sendSuccess(event.taskToken, { decision: decided.decision, by: decided.by, ...(decided.comment ? { comment: decided.comment } : {}), at: decided.at });
    } else {
      await deps.workflows.sendFailure(event.taskToken, STEP_ERRORS.rejected, `rejected by ${decided.by}${decided.comment ? `: ${decided.comment}` : ''}`.slice(0, 500));
    }
    deps.logger.info('gate answered from its recorded decision', { taskId: event.run.taskId, stepId: event.stepId, decision: decided.decision });
    return;
  }
  const deadline = new Date(now.getTime() + event.timeoutSeconds * 1000).toISOString();
  await retryOnConflict(async () => {
    const run = await deps.tasks.get(event.run.tenantId, event.run.taskId);
    if (!run || isTerminal(run.status)) throw Object.assign(new Error(`run ${event.run.taskId} is closed`), { name: STEP_ERRORS.runClosed });
    if (run.approval?.token === event.taskToken) return;
    await openGate(deps, run, {
      stepId: event.stepId,
      roles: [...event.roles],
      level: event.level,
      deadline,
      ...(event.prompt ? { prompt: event.prompt } : {}),
      token: event.taskToken,
    });
  });
  const existing = await deps.steps.get(event.run.tenantId, event.run.taskId, event.stepId);
  const base = existing ?? { tenantId: event.run.tenantId, runId: event.run.taskId, stepId: event.stepId, kind: 'approval' as const, version: -1, startedAt: now.toISOString() };
  await deps.steps
    .save({ ...base, status: 'waiting_approval', attempts: event.level, approval: { roles: [...event.roles], level: event.level, deadline, ...(event.prompt ? { prompt: event.prompt } : {}) }, version: base.version + 1, updatedAt: now.toISOString() })
    .catch((error: unknown) => deps.logger.warn('approval step record not written', { stepId: event.stepId, error: String(error) }));
};

/**
 * The workflow function's `finish` action: the run's state machine reached its end. The run's
 * terminal state is written once (a run already ended — cancelled, say — stays as it is).
 */
export const finishRun = async (
  deps: LifecycleDeps & { steps: StepStore },
  event: Extract<StepEvent, { action: 'finish' }>,
): Promise<{ status: string }> =>
  retryOnConflict(async () => {
    const run = await deps.tasks.get(event.run.tenantId, event.run.taskId);
    if (!run) return { status: 'missing' };
    if (isTerminal(run.status)) return { status: run.status };
    if (event.outcome === 'succeeded') {
      const outputs = Object.fromEntries(
        Object.entries((event.steps ?? {}) as Record<string, { output?: unknown }>).map(([id, step]) => [id, step?.output ?? null]),
      );
      return { status: (await succeed(deps, run, outputs)).status };
    }
    const name = event.error?.Error ?? '';
    const code = Object.values(RUN_ERRORS).includes(name as never) ? name : name === STEP_ERRORS.rejected ? RUN_ERRORS.rejected : RUN_ERRORS.stepFailed;
    const cause = String(event.error?.Cause ?? name ?? 'the workflow failed');
    return { status: (await fail(deps, run, { code, message: causeMessage(cause) })).status };
  });

/** Step Functions' Cause is often a JSON error of the function: keep its message, short. */
const causeMessage = (cause: string): string => {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string; errorType?: string };
    if (parsed.errorMessage) return `${parsed.errorType ?? 'Error'}: ${parsed.errorMessage}`.slice(0, 500);
  } catch {
    // not JSON
  }
  return cause.slice(0, 500);
};

/**
 * The workflow function's `pull` action: a step of a pull capability becomes a task of the run's
 * tenant that an external agent claims (claim_task); the state machine waits for its token, which
 * complete_task / fail_task answer. One task per attempt (its id from the run, the step and the
 * attempt's token), so a Lambda retry of this action creates nothing more.
 */
export const offerPulledStep = async (deps: LifecycleDeps, event: Extract<StepEvent, { action: 'pull' }>): Promise<void> => {
  const run = await deps.tasks.get(event.run.tenantId, event.run.taskId);
  if (!run || isTerminal(run.status)) throw Object.assign(new Error(`run ${event.run.taskId} is closed`), { name: STEP_ERRORS.runClosed });
  const now = deps.clock.now().toISOString();
  const task: Task = {
    tenantId: run.tenantId,
    taskId: taskIdFor(run.tenantId, `pull:${run.taskId}:${event.stepId}:${stableHash(event.taskToken)}`),
    capability: event.capability,
    input: event.input ?? null,
    priority: run.priority,
    status: 'queued',
    version: 0,
    attempts: 0,
    requestHash: stableHash({ run: run.taskId, step: event.stepId }),
    submittedBy: run.submittedBy,
    pull: true,
    parent: { runId: run.taskId, stepId: event.stepId, token: event.taskToken },
    dispatchPending: false,
    createdAt: now,
    updatedAt: now,
  };
  const stored = await deps.tasks.create(task);
  if (stored.created) deps.logger.info('workflow step offered to external agents', { taskId: run.taskId, stepId: event.stepId, pulledTaskId: task.taskId });
};

/** A pulled step's task ended: its answer goes to the run's state machine (false when it no longer waits). */
export const answerParent = async (workflows: WorkflowEngine | undefined, task: Task, logger: LifecycleDeps['logger']): Promise<void> => {
  if (!task.parent || !workflows) return;
  const sent =
    task.status === 'succeeded'
      ? await workflows.sendSuccess(task.parent.token, task.result ?? null)
      : task.status === 'failed' || task.status === 'cancelled'
        ? await workflows.sendFailure(task.parent.token, STEP_ERRORS.failed, `${task.error?.code ?? task.status}: ${task.error?.message ?? ''}`.slice(0, 500))
        : undefined;
  if (sent === false) logger.warn('the run no longer waits for this pulled step', { taskId: task.taskId, runId: task.parent.runId, stepId: task.parent.stepId });
};
