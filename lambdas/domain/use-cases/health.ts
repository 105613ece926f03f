/**
 * Health (docs/operations.md): liveness is answered without touching anything; the deep check
 * describes every dependency at once (tables, queues, keys, state machines), each within a short
 * timeout, and names the ones that failed or timed out.
 */

export const DEPENDENCY_KINDS = ['table', 'queue', 'key', 'stateMachine'] as const;
export type DependencyKind = (typeof DEPENDENCY_KINDS)[number];

/** One dependency and a cheap call that proves it reachable (a describe); it throws when it is not. */
export interface DependencyProbe {
  /** `<kind>:<name>`, e.g. `queue:critical`, `table:tasks`. */
  name: string;
  kind: DependencyKind;
  /** Resolves when reachable; aborted (`signal`) when the check's time is up. */
  check(signal: AbortSignal): Promise<void>;
}

export interface DependencyStatus {
  name: string;
  kind: DependencyKind;
  status: 'ok' | 'failed' | 'timeout';
  latencyMs: number;
  /** Failed: the error's name only (e.g. `ResourceNotFoundException`), never its message or a stack. */
  error?: string;
}

/** The deep check's answer: the JSON the health endpoints return (the console shows it). */
export interface HealthReport {
  status: 'ok' | 'failing';
  checkedAt: string;
  durationMs: number;
  /** The names of the dependencies that failed or timed out, in probe order. */
  failed: string[];
  dependencies: DependencyStatus[];
}

export interface HealthDeps {
  probes: readonly DependencyProbe[];
  /** Milliseconds, monotonic (performance.now()). */
  now: () => number;
  clock: { now(): Date };
}

/** Each dependency's own limit: a describe answers in tens of milliseconds. */
export const DEFAULT_PROBE_TIMEOUT_MS = 2000;

class ProbeTimeoutError extends Error {}

const errorName = (error: unknown): string => {
  const name = error instanceof Error ? error.name : typeof error;
  return /^[A-Za-z][A-Za-z0-9_.]{0,80}$/.test(name) ? name : 'Error';
};

const probe = async (dependency: DependencyProbe, deps: HealthDeps, timeoutMs: number): Promise<DependencyStatus> => {
  const controller = new AbortController();
  const started = deps.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new ProbeTimeoutError());
    }, timeoutMs);
  });
  const base = { name: dependency.name, kind: dependency.kind };
  try {
    await Promise.race([dependency.check(controller.signal), expired]);
    return { ...base, status: 'ok', latencyMs: Math.round(deps.now() - started) };
  } catch (error) {
    const latencyMs = Math.round(deps.now() - started);
    if (error instanceof ProbeTimeoutError || controller.signal.aborted) return { ...base, status: 'timeout', latencyMs };
    return { ...base, status: 'failed', latencyMs, error: errorName(error) };
  } finally {
    clearTimeout(timer);
  }
};

/** Describes every dependency in parallel; the report's status is `failing` when any failed or timed out. */
export const checkHealth = async (deps: HealthDeps, options: { timeoutMs?: number } = {}): Promise<HealthReport> => {
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const started = deps.now();
  const dependencies = await Promise.all(deps.probes.map((dependency) => probe(dependency, deps, timeoutMs)));
  const failed = dependencies.filter((d) => d.status !== 'ok').map((d) => d.name);
  return {
    status: failed.length ? 'failing' : 'ok',
    checkedAt: deps.clock.now().toISOString(),
    durationMs: Math.round(deps.now() - started),
    failed,
    dependencies,
  };
};

/** The HTTP status of a report: 200 when every dependency answered, 503 otherwise. */
export const healthStatusCode = (report: HealthReport): 200 | 503 => (report.status === 'ok' ? 200 : 503);
