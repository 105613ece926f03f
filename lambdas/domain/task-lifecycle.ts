import { ConcurrencyError, InvalidTransitionError } from './errors';
import type { TaskEvent, TaskServiceDeps } from './ports';
import { isRedrivable, MAX_PRIORITY_CHANGES, PRIORITIES, type Approval, type Decision, type PromotionReason, type Task, type TaskError, type TaskStatus } from './task';

/**
 * Every change of a task's state, in one place. Each transition is one conditional write on the
 * task's version (ConcurrencyError when the task moved meanwhile), allowed only from the states
 * it names, and counted once. Use-cases decide *when*; this module decides *what* a change is.
 * Workflows and agents add their states here, and only here.
 */
export type LifecycleDeps = Pick<TaskServiceDeps, 'tasks' | 'clock' | 'logger' | 'telemetry' | 'quota'>;

/** Races lost in a row before a use-case gives up and reports the conflict. */
export const MAX_RACES = 5;

/**
 * Runs `attempt` again each time it loses a race (ConcurrencyError), at most `maxRaces` times;
 * `attempt` must re-read what it decides on. The last ConcurrencyError is rethrown.
 */
export const retryOnConflict = async <T>(attempt: () => Promise<T>, maxRaces = MAX_RACES): Promise<T> => {
  for (let race = 1; ; race += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof ConcurrencyError) || race >= maxRaces) throw error;
    }
  }
};

const iso = (ms: number) => new Date(ms).toISOString();

const allow = (task: Task, transition: string, from: readonly TaskStatus[]) => {
  if (!from.includes(task.status)) {
    throw new InvalidTransitionError(`task ${task.taskId} is ${task.status}: cannot ${transition}`);
  }
};

const record = (deps: LifecycleDeps, event: TaskEvent, task: Task, code?: string) => deps.telemetry?.record(event, task, code);

/**
 * After a terminal transition (which only one caller wins: it is conditional on the version):
 * the tenant's in-flight slot goes back. A failure here is logged, not thrown: the task's state is
 * already right, and the quota's recount finds the slot.
 */
const releaseSlot = async (deps: LifecycleDeps, task: Task): Promise<void> => {
  try {
    await deps.quota?.releaseInFlight(task.tenantId);
  } catch (error) {
    deps.logger.warn('in-flight slot not given back (the next recount finds it)', { tenantId: task.tenantId, taskId: task.taskId, error: String(error) });
  }
};

/** Whether a running task's lease still holds at `nowMs` (another delivery is running it). */
export const leaseHeld = (task: Task, nowMs: number): boolean =>
  task.status === 'running' && task.leaseUntil !== undefined && Date.parse(task.leaseUntil) > nowMs;

/** Milliseconds until a held lease runs out (0 when it is not held). */
export const leaseRemainingMs = (task: Task, nowMs: number): number =>
  leaseHeld(task, nowMs) ? Date.parse(task.leaseUntil!) - nowMs : 0;

/**
 * queued, or running with an expired lease (its worker died) → running, one more attempt, leased.
 * `leaseId`: an external agent's claim, which it must show to renew, complete or fail the task.
 */
export const claim = async (deps: LifecycleDeps, task: Task, leaseMs: number, leaseId?: string): Promise<Task> => {
  allow(task, 'claim', ['queued', 'running']);
  const now = deps.clock.now();
  if (leaseHeld(task, now.getTime())) throw new InvalidTransitionError(`task ${task.taskId} is leased by another delivery`);
  const claimed = await deps.tasks.update(
    task,
    {
      status: 'running',
      attempts: task.attempts + 1,
      leaseUntil: iso(now.getTime() + leaseMs),
      ...(leaseId !== undefined ? { leaseId } : {}),
      // A delivery (or an agent's claim) proves the dispatch happened.
      ...(task.dispatchPending ? { dispatchPending: false } : {}),
    },
    now,
  );
  record(deps, 'started', claimed);
  deps.logger.info('task running', { tenantId: task.tenantId, taskId: task.taskId, attempt: claimed.attempts });
  return claimed;
};

/** running → running with the lease pushed `leaseMs` from now (the worker's heartbeat). */
export const extendLease = async (deps: LifecycleDeps, task: Task, leaseMs: number): Promise<Task> => {
  allow(task, 'extend the lease of', ['running']);
  const now = deps.clock.now();
  return deps.tasks.update(task, { leaseUntil: iso(now.getTime() + leaseMs) }, now);
};

/**
 * running → running with the lease given back, so a redelivery (or, for a pulled task, any agent's
 * claim) may claim it at once (a retry). A pulled task's lease id goes with it.
 */
export const release = async (deps: LifecycleDeps, task: Task, reason: string): Promise<Task> => {
  allow(task, 'release', ['running']);
  const now = deps.clock.now();
  const released = await deps.tasks.update(task, { leaseUntil: now.toISOString(), ...(task.leaseId !== undefined ? { removeLeaseId: true } : {}) }, now);
  record(deps, 'retried', task);
  deps.logger.warn('agent failed: will retry', { tenantId: task.tenantId, taskId: task.taskId, attempt: task.attempts, error: reason });
  return released;
};

/** running → succeeded with the agent's result. */
export const succeed = async (deps: LifecycleDeps, task: Task, result: unknown): Promise<Task> => {
  allow(task, 'succeed', ['running', 'waiting_approval']);
  const done = await deps.tasks.update(task, { status: 'succeeded', result: result ?? null, removeLease: true }, deps.clock.now());
  await releaseSlot(deps, task);
  record(deps, 'succeeded', task);
  deps.logger.info('task succeeded', { tenantId: task.tenantId, taskId: task.taskId });
  return done;
};

/** queued or running → failed with a code. */
export const fail = async (deps: LifecycleDeps, task: Task, error: TaskError): Promise<Task> => {
  allow(task, 'fail', ['queued', 'running', 'waiting_approval']);
  const failed = await deps.tasks.update(task, { status: 'failed', error, removeLease: true }, deps.clock.now());
  await releaseSlot(deps, task);
  record(deps, 'failed', task, error.code);
  deps.logger.warn('task failed', { tenantId: task.tenantId, taskId: task.taskId, code: error.code });
  return failed;
};

/** queued, running or waiting for approval → cancelled (a running agent's late result is then discarded). */
export const cancel = async (deps: LifecycleDeps, task: Task): Promise<Task> => {
  allow(task, 'cancel', ['queued', 'running', 'waiting_approval']);
  const cancelled = await deps.tasks.update(task, { status: 'cancelled', removeLease: true }, deps.clock.now());
  await releaseSlot(deps, task);
  record(deps, 'cancelled', task);
  deps.logger.info('task cancelled', { tenantId: task.tenantId, taskId: task.taskId, from: task.status });
  return cancelled;
};

/**
 * failed with DEAD_LETTERED, never redriven → queued, once: attempts start again from 0, the error
 * goes, `redrivenAt` marks it (a second redrive is refused, a second dead-lettering is final), and
 * the dispatch is pending again (the caller dispatches; the reconciler finishes a dispatch it could
 * not). The one transition out of a terminal state.
 */
export const redrive = async (deps: LifecycleDeps, task: Task): Promise<Task> => {
  if (!isRedrivable(task)) {
    const why = task.redrivenAt !== undefined ? 'it was redriven before' : `it is ${task.status}${task.error ? ` (${task.error.code})` : ''}, not failed with DEAD_LETTERED`;
    throw new InvalidTransitionError(`task ${task.taskId} cannot be redriven: ${why}`);
  }
  const now = deps.clock.now();
  const redriven = await deps.tasks.update(
    task,
    { status: 'queued', attempts: 0, removeError: true, removeLease: true, redrivenAt: now.toISOString(), dispatchPending: true },
    now,
  );
  try {
    await deps.quota?.occupyInFlight(task.tenantId);
  } catch (error) {
    deps.logger.warn('in-flight slot of a redriven task not taken', { tenantId: task.tenantId, taskId: task.taskId, error: String(error) });
  }
  record(deps, 'redriven', task);
  deps.logger.warn('dead-lettered task redriven', { tenantId: task.tenantId, taskId: task.taskId });
  return redriven;
};

/**
 * queued → queued one priority up (never above critical), with the change recorded in
 * `priorityChanges` (the last MAX_PRIORITY_CHANGES kept) and the dispatch pending again: the
 * caller sends the message to the new level's queue (the reconciler finishes a dispatch it could
 * not). The copy still in the lower queue is stale: the worker discards it (its priority is not
 * the task's), so the task runs once.
 */
export const promote = async (deps: LifecycleDeps, task: Task, reason: PromotionReason): Promise<Task> => {
  allow(task, 'promote', ['queued']);
  const level = PRIORITIES.indexOf(task.priority);
  if (level <= 0) throw new InvalidTransitionError(`task ${task.taskId} is ${task.priority}: cannot promote`);
  const to = PRIORITIES[level - 1]!;
  const now = deps.clock.now();
  const change = { from: task.priority, to, at: now.toISOString(), reason };
  const promoted = await deps.tasks.update(
    task,
    { priority: to, priorityChanges: [...(task.priorityChanges ?? []), change].slice(-MAX_PRIORITY_CHANGES), dispatchPending: true },
    now,
  );
  record(deps, 'promoted', promoted, reason);
  deps.logger.warn('queued task promoted', { tenantId: task.tenantId, taskId: task.taskId, from: task.priority, to, reason });
  return promoted;
};

/** The queue message is out: clear `dispatchPending` (any status; the flag is not a state). */
export const confirmDispatch = async (deps: Pick<LifecycleDeps, 'tasks' | 'clock'>, task: Task): Promise<Task> =>
  deps.tasks.update(task, { dispatchPending: false }, deps.clock.now());

/** A run's claim → its state machine execution is started: the worker's lease goes, the execution is recorded. */
export const startedExecution = async (deps: LifecycleDeps, task: Task, executionArn: string): Promise<Task> => {
  allow(task, 'record the execution of', ['running']);
  const started = await deps.tasks.update(
    task,
    { execution: { arn: executionArn, starts: (task.execution?.starts ?? 0) + 1 }, removeLease: true },
    deps.clock.now(),
  );
  deps.logger.info('workflow run started', { tenantId: task.tenantId, taskId: task.taskId, executionArn });
  return started;
};

/** running (or waiting at a lower level of the same gate) → waiting_approval at the gate. */
export const openGate = async (deps: LifecycleDeps, task: Task, approval: Approval): Promise<Task> => {
  allow(task, 'open an approval gate on', ['running', 'waiting_approval']);
  const waiting = await deps.tasks.update(task, { status: 'waiting_approval', approval }, deps.clock.now());
  deps.logger.info('workflow run waiting for approval', { tenantId: task.tenantId, taskId: task.taskId, stepId: approval.stepId, level: approval.level });
  return waiting;
};

/** waiting_approval → running, the decision recorded (the state machine has it already). */
export const decide = async (deps: LifecycleDeps, task: Task, decision: Decision): Promise<Task> => {
  allow(task, 'decide on', ['waiting_approval']);
  const decided = await deps.tasks.update(
    task,
    { status: 'running', decisions: [...(task.decisions ?? []), decision], removeApproval: true },
    deps.clock.now(),
  );
  deps.logger.info('approval decided', { tenantId: task.tenantId, taskId: task.taskId, stepId: decision.stepId, decision: decision.decision, by: decision.by });
  return decided;
};

/**
 * A decision recorded on a run that already moved on because of it (the state machine ran ahead:
 * a rejection's finish, the next step): any status, the decision appended, nothing else changed.
 */
export const recordDecision = async (deps: LifecycleDeps, task: Task, decision: Decision): Promise<Task> =>
  deps.tasks.update(task, { decisions: [...(task.decisions ?? []), decision], ...(task.approval?.stepId === decision.stepId ? { removeApproval: true } : {}) }, deps.clock.now());

/**
 * queued → queued, marked for external agents (`pull`): the worker does not run it, an agent claims
 * it over MCP (the claimable index then holds it). For a task submitted before its capability was a
 * pull capability; submit marks the others itself.
 */
export const offerForPull = async (deps: LifecycleDeps, task: Task): Promise<Task> => {
  allow(task, 'offer for pulling', ['queued']);
  const offered = await deps.tasks.update(task, { pull: true }, deps.clock.now());
  deps.logger.info('task offered to external agents', { tenantId: task.tenantId, taskId: task.taskId, capability: task.capability });
  return offered;
};

/** The one refusal an agent gets for a lease it no longer holds (renewed, completed or failed by nobody else). */
const leaseLost = (task: Task) => new InvalidTransitionError(`your lease on task ${task.taskId} is no longer valid`);

/**
 * Whether `leaseId` is the pulled task's current claim: running, and claimed with that id (a new
 * claim, a retry, a cancel or an end each take it away). `andHeld`: its lease has not run out either.
 */
export const holdsLease = (task: Task, leaseId: string, nowMs: number, andHeld: boolean): boolean =>
  task.pull === true && task.status === 'running' && task.leaseId === leaseId && (!andHeld || leaseHeld(task, nowMs));

/** A claim by an external agent: a pulled task, queued or with its lease run out → running under `leaseId`. */
export const claimPulled = async (deps: LifecycleDeps, task: Task, leaseMs: number, leaseId: string): Promise<Task> => {
  if (task.pull !== true) throw new InvalidTransitionError(`task ${task.taskId} is not run by external agents`);
  return claim(deps, task, leaseMs, leaseId);
};

/** An agent's heartbeat: its lease, still held, pushed `leaseMs` from now. An expired lease is not renewed (it may be reassigned). */
export const renewPulled = async (deps: LifecycleDeps, task: Task, leaseId: string, leaseMs: number): Promise<Task> => {
  if (!holdsLease(task, leaseId, deps.clock.now().getTime(), true)) throw leaseLost(task);
  return extendLease(deps, task, leaseMs);
};

/**
 * An agent's result: running → succeeded, only under its current lease id. A lease that ran out but
 * was not reassigned yet is still the current one: nobody else has run the task since.
 */
export const completePulled = async (deps: LifecycleDeps, task: Task, leaseId: string, result: unknown): Promise<Task> => {
  if (!holdsLease(task, leaseId, deps.clock.now().getTime(), false)) throw leaseLost(task);
  return succeed(deps, task, result);
};

/**
 * An agent's failure, under its current lease id: retryable with attempts left → queued again
 * (claimable at once, oldest first as before, the lease gone; attempts kept); otherwise → failed
 * with the agent's code.
 */
export const failPulled = async (
  deps: LifecycleDeps,
  task: Task,
  leaseId: string,
  error: TaskError,
  retry: { retryable: boolean; maxAttempts: number },
): Promise<Task> => {
  if (!holdsLease(task, leaseId, deps.clock.now().getTime(), false)) throw leaseLost(task);
  if (!retry.retryable || task.attempts >= retry.maxAttempts) return fail(deps, task, error);
  const now = deps.clock.now();
  const requeued = await deps.tasks.update(task, { status: 'queued', removeLease: true }, now);
  record(deps, 'retried', task);
  deps.logger.warn('external agent failed: task queued again', { tenantId: task.tenantId, taskId: task.taskId, attempt: task.attempts, code: error.code });
  return requeued;
};
