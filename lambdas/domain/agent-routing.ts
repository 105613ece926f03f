import { ConcurrencyError } from './errors';
import type { McpServerConnectorConfig } from '../contracts/connectors-mcp';
import type { Agent, AgentContext, Clock, Logger } from './ports';

/**
 * Agents as the router sees them: instances that serve capabilities, each with a concurrency
 * limit, a weight, live statistics and a circuit breaker, kept in a store shared by every function
 * instance (on AWS: one DynamoDB item per agent), so a breaker opened by one worker holds for all.
 */
export type CircuitState = 'closed' | 'open' | 'half_open';

export interface AgentState {
  agentId: string;
  kind: 'builtin' | 'mcp' | 'http' | 'llm' | 'external';
  capabilities: string[];
  maxConcurrency: number;
  weight: number;
  /** Calls running now (leases taken and not given back). */
  inFlight: number;
  /** Exponentially weighted moving averages (alpha EWMA_ALPHA) of latency and of success (1) / failure (0). */
  ewmaLatencyMs: number;
  successRate: number;
  calls: number;
  circuit: CircuitState;
  consecutiveFailures: number;
  /** When the circuit last opened (ISO). */
  openedAt?: string;
  /** Half-open: a probe call is running. */
  probing?: boolean;
  /** A downstream MCP server an operator registered at run time (register_agent): how to reach it. */
  registration?: McpServerConnectorConfig;
  version: number;
  updatedAt: string;
}

/** What a call changes besides the lease: statistics and the breaker (`version` guards it). */
export type AgentHealth = Pick<AgentState, 'ewmaLatencyMs' | 'successRate' | 'calls' | 'circuit' | 'consecutiveFailures' | 'openedAt' | 'probing'>;

export interface AgentStateStore {
  /** Every registered agent (a cached read of at most a second is fine: leases are conditional). */
  list(): Promise<AgentState[]>;
  get(agentId: string): Promise<AgentState | undefined>;
  /** Creates the agent (healthy, idle) or updates what it serves and its limits, keeping its health. */
  register(agent: Pick<AgentState, 'agentId' | 'kind' | 'capabilities' | 'maxConcurrency' | 'weight' | 'registration'>, now: Date): Promise<void>;
  /** Removes the agent (its calls in flight finish; no new lease). */
  deregister(agentId: string): Promise<boolean>;
  /**
   * Takes a lease in one atomic write: in-flight + 1 if below the agent's limit and (`probe`
   * false) its circuit is closed, or (`probe` true) it is half-open for this caller's probe.
   */
  lease(agentId: string, probe: boolean): Promise<boolean>;
  /** Gives a lease back and counts the call: in-flight − 1 (never below 0), calls + 1, in one atomic write. */
  unlease(agentId: string): Promise<void>;
  /** Writes the agent's health if its version is still `expectedVersion` (and moves it on); ConcurrencyError otherwise. */
  saveHealth(agentId: string, health: AgentHealth, expectedVersion: number, now: Date): Promise<void>;
}

export const ROUTING = {
  /** Consecutive failures that open a circuit. */
  failuresToOpen: 5,
  /** An open circuit lets one probe through after this long (half-open). */
  cooldownMs: 30_000,
  ewmaAlpha: 0.2,
  /** Scores within this fraction of the best are equals: weighted round-robin among them. */
  tieBand: 0.1,
  /** Score weights: load (in-flight / max), latency (relative to the fastest candidate), failure (1 − success rate). */
  weights: { load: 1, latency: 0.5, failure: 2 },
  /** Latencies within this factor of the fastest count as equal (replicas of one system differ by noise). */
  latencySlack: 1.25,
  /** An agent's latency counts only after this many calls (its first call pays cold starts and connections). */
  minCallsForLatency: 5,
  /**
   * Latencies are compared from this floor up: below it differences are timer noise (1 ms against 2 ms is not
   * "twice as slow"), and a sub-millisecond fastest agent would otherwise starve every other one.
   */
  latencyFloorMs: 10,
} as const;

/**
 * The documented score (lower is better): load × in-flight/max + latency × max(0, ewma / fastest −
 * slack) (both latencies taken from a 10 ms floor) + failure × (1 − success rate). An agent with fewer than minCallsForLatency calls counts as
 * the fastest (its first calls pay cold starts), one with none as healthy.
 */
export const scoreOf = (agent: AgentState, fastestMs: number): number =>
  ROUTING.weights.load * (agent.inFlight / Math.max(1, agent.maxConcurrency)) +
  ROUTING.weights.latency *
    (agent.calls >= ROUTING.minCallsForLatency && fastestMs > 0
      ? Math.max(0, Math.max(agent.ewmaLatencyMs, ROUTING.latencyFloorMs) / Math.max(fastestMs, ROUTING.latencyFloorMs) - ROUTING.latencySlack)
      : 0) +
  ROUTING.weights.failure * (1 - agent.successRate);

/** Whether the breaker lets a call through now, and as what. */
export const admission = (agent: AgentState, nowMs: number): 'closed' | 'probe' | 'refused' => {
  if (agent.circuit === 'closed') return 'closed';
  const cooled = agent.openedAt !== undefined && nowMs - Date.parse(agent.openedAt) >= ROUTING.cooldownMs;
  if (agent.circuit === 'open') return cooled ? 'probe' : 'refused';
  return agent.probing ? 'refused' : 'probe';
};

/** The health after a call ended: statistics, and the breaker (closes on a probe's success, opens on failures). */
export const afterCall = (agent: AgentState, outcome: { ok: boolean; latencyMs: number; probe: boolean }, now: Date): AgentHealth => {
  const a = ROUTING.ewmaAlpha;
  const next: AgentHealth = {
    calls: agent.calls,
    ewmaLatencyMs: agent.calls <= 1 ? outcome.latencyMs : (1 - a) * agent.ewmaLatencyMs + a * outcome.latencyMs,
    successRate: (1 - a) * agent.successRate + a * (outcome.ok ? 1 : 0),
    consecutiveFailures: outcome.ok ? 0 : agent.consecutiveFailures + 1,
    circuit: agent.circuit,
    ...(agent.openedAt !== undefined ? { openedAt: agent.openedAt } : {}),
    ...(agent.probing && !outcome.probe ? { probing: true } : {}),
  };
  if (outcome.ok && agent.circuit !== 'closed' && outcome.probe) {
    // Recovered: the breaker closes and forgets the failures, or the score would starve it for ever.
    next.circuit = 'closed';
    next.successRate = 1;
    delete next.openedAt;
  } else if (!outcome.ok && (outcome.probe || next.consecutiveFailures >= ROUTING.failuresToOpen)) {
    next.circuit = 'open';
    next.openedAt = now.toISOString();
  }
  return next;
};

const healthOf = (agent: AgentState): AgentHealth => ({
  calls: agent.calls,
  ewmaLatencyMs: agent.ewmaLatencyMs,
  successRate: agent.successRate,
  consecutiveFailures: agent.consecutiveFailures,
  circuit: agent.circuit,
  ...(agent.openedAt !== undefined ? { openedAt: agent.openedAt } : {}),
  ...(agent.probing ? { probing: true } : {}),
});

export class NoAgentAvailableError extends Error {
  override name = 'NoAgentAvailableError';
}

export interface RouterDeps {
  agentStates: AgentStateStore;
  clock: Clock;
  logger: Logger;
  /** Picks among equals; injectable for tests (default Math.random). */
  random?: () => number;
}

/** Retries a read-modify-write that lost a race, with a short random pause, `times` times. */
const retryConflicts = async <T>(attempt: () => Promise<T>, times = 5): Promise<T> => {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof ConcurrencyError) || n >= times) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * n));
    }
  }
};

/**
 * Chooses an agent for one call of `capability` and takes its lease (one atomic conditional write:
 * no double booking under concurrency), trying the candidates best first: an agent at its limit,
 * or whose circuit refuses, is passed over (failover). A cooled-down open circuit lets exactly one
 * caller through as its probe (half-open, taken by a conditional write on the agent's version).
 */
export const acquire = async (deps: RouterDeps, capability: string, runnable?: ReadonlySet<string>) => {
  const now = deps.clock.now();
  // Only agents this function can run (another deployment's, registered in the same table, are not).
  const all = (await deps.agentStates.list()).filter((a) => a.capabilities.includes(capability) && (!runnable || runnable.has(a.agentId)));
  if (all.length === 0) throw new NoAgentAvailableError(`no agent serves capability "${capability}"`);
  const fastest = Math.min(...all.filter((a) => a.calls >= ROUTING.minCallsForLatency).map((a) => a.ewmaLatencyMs), Number.POSITIVE_INFINITY);
  const ranked = all
    .map((agent) => ({ agent, score: scoreOf(agent, Number.isFinite(fastest) ? fastest : 0) }))
    .sort((x, y) => x.score - y.score);
  // Weighted round-robin among equals: a weighted random pick within the tie band, then the rest by score.
  const best = ranked[0]!.score;
  const equals = ranked.filter((r) => r.score <= best + ROUTING.tieBand);
  const random = deps.random ?? Math.random;
  let pick = random() * equals.reduce((sum, r) => sum + r.agent.weight, 0);
  const first = equals.find((r) => (pick -= r.agent.weight) < 0) ?? equals[0]!;
  // A cooled-down open circuit is probed before anything else: otherwise a recovered agent behind
  // healthy ones would never be tried again.
  const probes = ranked.filter((r) => admission(r.agent, now.getTime()) === 'probe' && r.agent.circuit === 'open');
  for (const { agent } of [...probes, first, ...ranked.filter((r) => r !== first && !probes.includes(r))]) {
    const gate = admission(agent, now.getTime());
    if (gate === 'refused') continue;
    if (gate === 'closed') {
      if (await deps.agentStates.lease(agent.agentId, false)) return { agentId: agent.agentId, probe: false };
      continue;
    }
    // The probe: whoever moves the breaker to half-open (conditional on the version) calls.
    const latest = await deps.agentStates.get(agent.agentId);
    if (!latest || admission(latest, now.getTime()) !== 'probe') continue;
    try {
      await deps.agentStates.saveHealth(latest.agentId, { ...healthOf(latest), circuit: 'half_open', probing: true }, latest.version, now);
    } catch (error) {
      if (error instanceof ConcurrencyError) continue;
      throw error;
    }
    if (await deps.agentStates.lease(latest.agentId, true)) return { agentId: latest.agentId, probe: true };
  }
  throw new NoAgentAvailableError(`every agent of "${capability}" is busy or its circuit is open`);
};

/** Gives the lease back and records the call's outcome (statistics, breaker). Failures are logged, never thrown. */
export const release = async (deps: RouterDeps, agentId: string, outcome: { ok: boolean; latencyMs: number; probe: boolean }): Promise<void> => {
  try {
    await deps.agentStates.unlease(agentId);
    await retryConflicts(async () => {
      const latest = await deps.agentStates.get(agentId);
      if (!latest) return;
      const next = afterCall(latest, outcome, deps.clock.now());
      await deps.agentStates.saveHealth(agentId, next, latest.version, deps.clock.now());
      if (next.circuit !== latest.circuit) deps.logger.warn('agent circuit changed', { agentId, from: latest.circuit, to: next.circuit });
    }, 10);
  } catch (error) {
    deps.logger.warn('agent statistics not recorded for one call', { agentId, error: String(error) });
  }
};

/**
 * One capability served by several agents, behind the Agent port: each call is routed (score,
 * lease, breaker), run on the chosen agent, and its outcome recorded. An agent that refuses the
 * input (a validation error before any work) does not count against its health.
 */
export const routedAgent = (deps: RouterDeps, capability: string, executors: ReadonlyMap<string, Agent>, description: string, input?: Agent['input']): Agent => ({
  capability,
  description,
  ...(input ? { input } : {}),
  run: async (payload: unknown, context: AgentContext) => {
    const { agentId, probe } = await acquire(deps, capability, new Set(executors.keys()));
    const executor = executors.get(agentId)!;
    const started = Date.now();
    try {
      const result = await executor.run(payload, context);
      await release(deps, agentId, { ok: true, latencyMs: Date.now() - started, probe });
      return result;
    } catch (error) {
      await release(deps, agentId, { ok: false, latencyMs: Date.now() - started, probe });
      throw error;
    }
  },
});
