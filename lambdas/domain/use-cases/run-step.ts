import { isTerminal } from '../task';
import { INLINE_OUTPUT_BYTES, STEP_ERRORS, type StepEvent, type StepResult } from '../../contracts/workflows';
import { ConcurrencyError } from '../errors';
import type { AgentRegistry, Clock, Logger, TaskRepository } from '../ports';
import type { TaskError } from '../task';
import { withTimeLimit } from '../time-limit';
import type { StepRecord, StepStore } from '../workflow-ports';

export type RunStepEvent = Extract<StepEvent, { action: 'run' }>;

export interface RunStepDeps {
  steps: StepStore;
  tasks: TaskRepository;
  agents: AgentRegistry;
  clock: Clock;
  logger: Logger;
}

/** The run is no longer running (cancelled, finished, missing): the step never runs; not retried. */
export class RunClosedError extends Error {
  override name: string = STEP_ERRORS.runClosed;
}

/** The attempt failed (the agent, its input, its output, a lost race): Step Functions retries. */
export class StepFailedError extends Error {
  override name: string = STEP_ERRORS.failed;
}

/** The agent did not answer within the step's timeout: Step Functions retries. */
export class StepTimedOutError extends Error {
  override name: string = STEP_ERRORS.timedOut;
}

/** The codes a failed attempt is recorded with (the step record's error.code). */
export const STEP_ERROR_CODES = {
  agent: 'AGENT_ERROR',
  timeout: 'STEP_TIMEOUT',
  unknownCapability: 'UNKNOWN_CAPABILITY',
  invalidInput: 'INVALID_INPUT',
  unresolvedRef: 'UNRESOLVED_REF',
  outputTooLarge: 'OUTPUT_TOO_LARGE',
} as const;

/** `{ "$ref": "step:<id>" }`: a step's output held in the step store instead of the execution's state. */
export const stepRef = (stepId: string) => ({ $ref: `${REF_PREFIX}${stepId}` });
const REF_PREFIX = 'step:';

/** How deep into a step's input references are looked for (the root is level 0; deeper values are carried as they are). */
export const MAX_REF_DEPTH = 32;

/**
 * The most a step's output may weigh, serialized: it is stored in one DynamoDB item (400 KB at most,
 * keys and the other attributes included). Above it the attempt fails with OUTPUT_TOO_LARGE.
 */
export const MAX_STORED_OUTPUT_BYTES = 350 * 1024;

const MESSAGE_CHARS = 300;
const shortMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error)).slice(0, MESSAGE_CHARS);
const utf8Bytes = (text: string): number => new TextEncoder().encode(text).length;

/**
 * Runs one attempt of a workflow's agent step (the `run` action of a Task state), idempotently: a
 * step whose record says succeeded returns its stored output without running again; every record
 * change is a conditional save on its version. Outputs above INLINE_OUTPUT_BYTES go back to the
 * state machine as `{ "$ref": "step:<id>" }`, and such references in a step's input are replaced
 * by the stored outputs before the agent runs.
 *
 * Throws RunClosedError (the run is not running), StepFailedError or StepTimedOutError (recorded on
 * the step first); any other error is the store's or the repository's and is retried as well.
 */
export const runStep = async (deps: RunStepDeps, event: RunStepEvent): Promise<StepResult> => {
  const { run, stepId } = event;
  const log = { tenantId: run.tenantId, runId: run.taskId, stepId };
  const task = await deps.tasks.get(run.tenantId, run.taskId);
  // waiting_approval too is open: a decision reaches the state machine before it is recorded on the run.
  if (!task || task.status === 'queued' || isTerminal(task.status)) {
    deps.logger.warn('step of a run that is not running: refused', { ...log, status: task?.status ?? 'missing' });
    throw new RunClosedError(task ? `run ${run.taskId} is ${task.status}` : `run ${run.taskId} does not exist`);
  }

  const existing = await deps.steps.get(run.tenantId, run.taskId, stepId);
  if (existing?.status === 'succeeded') {
    deps.logger.info('step already succeeded: its output returned again', { ...log, attempt: existing.attempts });
    return resultOf(existing);
  }
  if (existing && existing.kind !== 'agent') throw new StepFailedError(`step ${stepId} of run ${run.taskId} is not an agent step`);

  let record: StepRecord;
  try {
    record = await deps.steps.save(nextAttempt(deps.clock.now(), event, existing));
  } catch (error) {
    return afterConflict(deps, event, error, new StepFailedError(`another attempt of step ${stepId} started at the same time`));
  }
  const logAttempt = { ...log, attempt: record.attempts };
  deps.logger.info('step attempt started', { ...logAttempt, capability: event.capability });

  const outcome = await attempt(deps, event, record);
  const now = deps.clock.now().toISOString();
  const { error: _previousError, ...base } = record;
  if ('output' in outcome) {
    const done: StepRecord = { ...base, status: 'succeeded', output: outcome.output, version: record.version + 1, updatedAt: now, finishedAt: now };
    try {
      await deps.steps.save(done);
    } catch (error) {
      return afterConflict(deps, event, error, new StepFailedError(`step ${stepId} changed while its agent ran; its output was discarded`));
    }
    deps.logger.info('step succeeded', logAttempt);
    return resultOf(done);
  }

  const failure = outcome.timedOut ? new StepTimedOutError(outcome.error.message) : new StepFailedError(outcome.error.message);
  const failed: StepRecord = { ...base, status: 'failed', error: outcome.error, version: record.version + 1, updatedAt: now, finishedAt: now };
  deps.logger.warn('step attempt failed', { ...logAttempt, code: outcome.error.code, error: outcome.error.message });
  try {
    await deps.steps.save(failed);
  } catch (error) {
    return afterConflict(deps, event, error, failure);
  }
  throw failure;
};

/** The record of a new attempt: the first (version 0), or the stored one made running again. */
const nextAttempt = (now: Date, event: RunStepEvent, existing: StepRecord | undefined): StepRecord => {
  const at = now.toISOString();
  if (!existing) {
    return {
      tenantId: event.run.tenantId,
      runId: event.run.taskId,
      stepId: event.stepId,
      kind: 'agent',
      status: 'running',
      attempts: 1,
      capability: event.capability,
      version: 0,
      startedAt: at,
      updatedAt: at,
    };
  }
  const { error: _error, finishedAt: _finishedAt, output: _output, ...kept } = existing;
  return { ...kept, status: 'running', attempts: existing.attempts + 1, capability: event.capability, version: existing.version + 1, updatedAt: at };
};

/**
 * A save lost a race: another attempt of the step wrote it. Its output if that attempt succeeded,
 * else `fallback` (thrown, so Step Functions retries).
 */
const afterConflict = async (deps: RunStepDeps, event: RunStepEvent, error: unknown, fallback: Error): Promise<StepResult> => {
  if (!(error instanceof ConcurrencyError)) throw error;
  const latest = await deps.steps.get(event.run.tenantId, event.run.taskId, event.stepId);
  if (latest?.status === 'succeeded') {
    deps.logger.info('step succeeded in another attempt: its output returned', {
      tenantId: event.run.tenantId, runId: event.run.taskId, stepId: event.stepId, attempt: latest.attempts,
    });
    return resultOf(latest);
  }
  throw fallback;
};

type Outcome = { output: unknown } | { error: TaskError; timedOut: boolean };
const failedWith = (code: string, message: string, timedOut = false): Outcome => ({ error: { code, message: message.slice(0, MESSAGE_CHARS) }, timedOut });

/** Resolves the input, runs the agent within the step's timeout, checks the output: never throws for the attempt's own failures. */
const attempt = async (deps: RunStepDeps, event: RunStepEvent, record: StepRecord): Promise<Outcome> => {
  const agent = deps.agents.get(event.capability);
  if (!agent) return failedWith(STEP_ERROR_CODES.unknownCapability, `capability "${event.capability}" is not enabled`);

  let input: unknown;
  try {
    input = await resolveRefs(event.input, async (stepId) => {
      const referenced = await deps.steps.get(event.run.tenantId, event.run.taskId, stepId);
      if (referenced?.status !== 'succeeded') throw new UnresolvedRefError(`input refers to step "${stepId}", which has no output in this run`);
      return referenced.output ?? null;
    });
  } catch (error) {
    if (error instanceof UnresolvedRefError) return failedWith(STEP_ERROR_CODES.unresolvedRef, error.message);
    throw error;
  }
  const checked = agent.input?.safeParse(input);
  if (checked && !checked.success) {
    const issue = checked.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
    return failedWith(STEP_ERROR_CODES.invalidInput, `input does not fit what ${event.capability} accepts${where}: ${issue?.message ?? 'invalid'}`);
  }

  let raw: unknown;
  try {
    raw = await withTimeLimit(
      (signal) => agent.run(input, { tenantId: event.run.tenantId, taskId: event.run.taskId, attempt: record.attempts, signal }),
      event.timeoutSeconds * 1000,
      () => new StepTimedOutError(`step ${event.stepId} ran longer than its ${event.timeoutSeconds} s`),
    );
  } catch (error) {
    if (error instanceof StepTimedOutError) return failedWith(STEP_ERROR_CODES.timeout, error.message, true);
    // The agent's own limit (toAgent's AgentTimeoutError, named, as the domain does not import agents) is a timeout too.
    if (error instanceof Error && error.name === 'AgentTimeoutError') return failedWith(STEP_ERROR_CODES.timeout, error.message, true);
    return failedWith(STEP_ERROR_CODES.agent, shortMessage(error));
  }

  let json: string;
  try {
    json = JSON.stringify(raw ?? null);
  } catch {
    return failedWith(STEP_ERROR_CODES.agent, `agent ${event.capability} returned an output that is not JSON`);
  }
  if (utf8Bytes(json) > MAX_STORED_OUTPUT_BYTES) {
    return failedWith(STEP_ERROR_CODES.outputTooLarge, `output of ${utf8Bytes(json)} bytes is above the ${MAX_STORED_OUTPUT_BYTES} a step may store`);
  }
  // As stored: what a later read (and a $ref) gives back.
  return { output: JSON.parse(json) as unknown };
};

/** Inline when small, else a reference to the stored output. */
const resultOf = (record: StepRecord): StepResult => {
  const output = record.output ?? null;
  return utf8Bytes(JSON.stringify(output)) <= INLINE_OUTPUT_BYTES ? { output } : { output: stepRef(record.stepId) };
};

class UnresolvedRefError extends Error {
  override name = 'UnresolvedRefError';
}

/** The step id of `{ "$ref": "step:<id>" }` (exactly that one key), else undefined. */
const refOf = (value: unknown): string | undefined => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== '$ref') return undefined;
  const ref = (value as { $ref: unknown }).$ref;
  return typeof ref === 'string' && ref.startsWith(REF_PREFIX) ? ref.slice(REF_PREFIX.length) : undefined;
};

/**
 * A copy of `input` with every step reference down to MAX_REF_DEPTH replaced by `load(stepId)`
 * (each step loaded once). Iterative, so no input grows the stack; a replaced output is not
 * searched again.
 */
export const resolveRefs = async (input: unknown, load: (stepId: string) => Promise<unknown>): Promise<unknown> => {
  const root: { value?: unknown } = {};
  const pending: { parent: Record<string, unknown> | unknown[]; key: string | number; stepId: string }[] = [];
  const stack: { value: unknown; parent: Record<string, unknown> | unknown[]; key: string | number; depth: number }[] = [
    { value: input, parent: root as Record<string, unknown>, key: 'value', depth: 0 },
  ];
  while (stack.length > 0) {
    const { value, parent, key, depth } = stack.pop()!;
    const stepId = refOf(value);
    if (stepId !== undefined) {
      pending.push({ parent, key, stepId });
      continue;
    }
    if (value === null || typeof value !== 'object' || depth >= MAX_REF_DEPTH) {
      set(parent, key, value);
      continue;
    }
    // Every key is set now, in order; containers and references among them are replaced when popped.
    const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [...value] : {};
    set(parent, key, copy);
    const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((child, index) => [index, child]) : Object.entries(value);
    for (const [name, child] of entries) {
      if (!Array.isArray(copy)) set(copy, name, child);
      if (child !== null && typeof child === 'object') stack.push({ value: child, parent: copy, key: name, depth: depth + 1 });
    }
  }
  if (pending.length > 0) {
    const ids = [...new Set(pending.map((ref) => ref.stepId))];
    const outputs = new Map(await Promise.all(ids.map(async (id) => [id, await load(id)] as const)));
    for (const { parent, key, stepId } of pending) set(parent, key, outputs.get(stepId));
  }
  return root.value;
};

const set = (parent: Record<string, unknown> | unknown[], key: string | number, value: unknown): void => {
  if (Array.isArray(parent)) parent[key as number] = value;
  // defineProperty: a "__proto__" key in the input stays a plain key of the copy.
  else Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
};
