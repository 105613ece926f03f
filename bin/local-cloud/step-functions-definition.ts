/**
 * Prepares an ASL definition for aws-local-stepfunctions: finds every Task state (so each gets a local
 * handler and none falls through to the library's real AWS Lambda client), checks its resource is one the
 * local runtime serves, and rewrites the few fields the library would mishandle.
 */

type Json = Record<string, unknown>;

export const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
export const LAMBDA_INVOKE_WAIT = 'arn:aws:states:::lambda:invoke.waitForTaskToken';
const FUNCTION_ARN = /^arn:aws[\w-]*:lambda:[\w-]+:\d{12}:function:[\w.-]+(:[\w$.-]+)?$/;

/** Longest delay setTimeout honours (2^31-1 ms); past it Node warns and fires after 1 ms. */
export const MAX_TIMER_SECONDS = Math.floor(0x7fffffff / 1000);

export type TaskKind = 'invoke' | 'invoke-wait' | 'function-arn';

export interface TaskSpec {
  stateName: string;
  kind: TaskKind;
  resource: string;
  /** The state's own TimeoutSeconds, when static (TimeoutSecondsPath is left to the library). */
  timeoutSeconds?: number;
  heartbeatSeconds?: number;
}

export interface PreparedDefinition {
  /** What the library runs: a deep copy with timeouts clamped and retry intervals scaled. */
  definition: Json;
  /** Every Task state, by name (ASL state names are unique across the whole machine, branches included). */
  tasks: Map<string, TaskSpec>;
}

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

const taskKind = (resource: unknown): TaskKind | undefined => {
  if (resource === LAMBDA_INVOKE) return 'invoke';
  if (resource === LAMBDA_INVOKE_WAIT) return 'invoke-wait';
  if (typeof resource === 'string' && FUNCTION_ARN.test(resource)) return 'function-arn';
  return undefined;
};

const positive = (value: unknown): number | undefined => (typeof value === 'number' && value > 0 ? value : undefined);

export const prepareDefinition = (source: object, retryIntervalScale = 1): PreparedDefinition => {
  const definition = structuredClone(source) as Json;
  const tasks = new Map<string, TaskSpec>();
  const names = new Set<string>();

  const visitMachine = (machine: unknown, where: string): void => {
    if (!isObject(machine) || !isObject(machine.States)) throw new Error(`${where}: States must be an object`);
    for (const [name, state] of Object.entries(machine.States)) {
      if (!isObject(state)) throw new Error(`state "${name}" must be an object`);
      if (names.has(name)) throw new Error(`state name "${name}" is used twice; ASL state names must be unique`);
      names.add(name);
      if (state.Type === 'Task') visitTask(name, state);
      if (Array.isArray(state.Retry) && retryIntervalScale !== 1) scaleRetriers(state.Retry);
      if (state.Type === 'Parallel') {
        if (!Array.isArray(state.Branches)) throw new Error(`state "${name}": Branches must be an array`);
        state.Branches.forEach((branch, i) => visitMachine(branch, `state "${name}" branch ${i}`));
      }
      if (state.Type === 'Map') visitMachine(state.ItemProcessor ?? state.Iterator, `state "${name}" ItemProcessor`);
    }
  };

  const visitTask = (name: string, state: Json): void => {
    const kind = taskKind(state.Resource);
    if (!kind) {
      throw new Error(
        `state "${name}": resource ${String(state.Resource)} is not served locally ` +
          `(served: ${LAMBDA_INVOKE}, ${LAMBDA_INVOKE_WAIT}, Lambda function ARNs)`,
      );
    }
    if (kind === 'invoke-wait' && !JSON.stringify(state.Parameters ?? null).includes('$$.Task.Token')) {
      throw new Error(`state "${name}": a .waitForTaskToken task must pass $$.Task.Token in its Parameters`);
    }
    const timeoutSeconds = positive(state.TimeoutSeconds);
    tasks.set(name, { stateName: name, kind, resource: String(state.Resource), timeoutSeconds, heartbeatSeconds: positive(state.HeartbeatSeconds) });
    // The library defaults a Task's timeout to 60 s (AWS: 99999999 s) and overflows setTimeout past ~24.8 days.
    if (state.TimeoutSecondsPath === undefined && (timeoutSeconds === undefined || timeoutSeconds > MAX_TIMER_SECONDS)) {
      state.TimeoutSeconds = MAX_TIMER_SECONDS;
    }
  };

  const scaleRetriers = (retriers: unknown[]): void => {
    for (const retrier of retriers) {
      if (!isObject(retrier)) continue;
      retrier.IntervalSeconds = (typeof retrier.IntervalSeconds === 'number' ? retrier.IntervalSeconds : 1) * retryIntervalScale;
      if (typeof retrier.MaxDelaySeconds === 'number') retrier.MaxDelaySeconds *= retryIntervalScale;
    }
  };

  visitMachine(definition, 'definition');
  if (typeof definition.TimeoutSeconds === 'number' && definition.TimeoutSeconds > MAX_TIMER_SECONDS) delete definition.TimeoutSeconds;
  return { definition, tasks };
};
