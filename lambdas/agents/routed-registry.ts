import { routedAgent, type AgentState, type RouterDeps } from '../domain/agent-routing';
import type { Agent, AgentRegistry } from '../domain/ports';

/** One agent offering one capability: who (agentId), what kind, its executor, its limits. */
export interface AgentOffer {
  agentId: string;
  kind: AgentState['kind'];
  agent: Agent;
  maxConcurrency: number;
  weight: number;
}

/**
 * The capabilities of every agent this function can run. A capability offered by more than one
 * agent, or by a connector (something remote that can fail or slow down), is routed: each call
 * chooses an agent by score, takes a lease, and records its outcome in the shared breaker
 * (agent-routing.ts). A built-in agent alone on its capability runs directly: routing it would
 * cost four more requests per task for nothing to choose between.
 */
export class RoutedAgentRegistry implements AgentRegistry {
  private readonly byCapability = new Map<string, Agent>();
  private registered?: Promise<void>;

  constructor(
    private readonly offered: readonly AgentOffer[],
    private readonly router?: RouterDeps,
  ) {
    const grouped = new Map<string, AgentOffer[]>();
    for (const offer of offered) grouped.set(offer.agent.capability, [...(grouped.get(offer.agent.capability) ?? []), offer]);
    for (const [capability, group] of grouped) {
      const routed = router && (group.length > 1 || group.some((o) => o.kind !== 'builtin'));
      if (!routed) {
        this.byCapability.set(capability, group[0]!.agent);
        continue;
      }
      const inner = routedAgent(router, capability, new Map(group.map((o) => [o.agentId, o.agent])), group[0]!.agent.description, group[0]!.agent.input);
      this.byCapability.set(capability, { ...inner, run: async (input, context) => (await this.ensureRegistered(), inner.run(input, context)) });
    }
  }

  /** The routed agents' records exist before their first call (once per container). */
  private ensureRegistered(): Promise<void> {
    this.registered ??= (async () => {
      const byAgent = new Map<string, AgentOffer[]>();
      for (const offer of this.offered) byAgent.set(offer.agentId, [...(byAgent.get(offer.agentId) ?? []), offer]);
      const now = this.router!.clock.now();
      for (const [agentId, offers] of byAgent) {
        await this.router!.agentStates.register(
          { agentId, kind: offers[0]!.kind, capabilities: offers.map((o) => o.agent.capability), maxConcurrency: offers[0]!.maxConcurrency, weight: offers[0]!.weight },
          now,
        );
      }
    })().catch((error: unknown) => {
      this.registered = undefined;
      throw error;
    });
    return this.registered;
  }

  get(capability: string): Agent | undefined {
    return this.byCapability.get(capability);
  }

  capabilities(): string[] {
    return [...this.byCapability.keys()].sort();
  }

  offers(): { agentId: string; kind: string; capabilities: string[] }[] {
    const byAgent = new Map<string, { agentId: string; kind: string; capabilities: string[] }>();
    for (const o of this.offered) {
      const entry = byAgent.get(o.agentId) ?? { agentId: o.agentId, kind: o.kind, capabilities: [] };
      entry.capabilities.push(o.agent.capability);
      byAgent.set(o.agentId, entry);
    }
    return [...byAgent.values()];
  }
}
