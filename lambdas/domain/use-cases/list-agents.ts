import * as z from 'zod';
import type { AgentState, AgentStateStore } from '../agent-routing';
import type { AgentRegistry } from '../ports';
import type { Principal } from '../principal';
import { CapabilitySchema } from '../task';

export const ListAgentsInputSchema = z
  .object({ capability: CapabilitySchema.optional().describe('Only the agents that serve this capability.') })
  .strict();
export type ListAgentsInput = z.infer<typeof ListAgentsInputSchema>;

export interface AgentView {
  agentId: string;
  kind: AgentState['kind'];
  capabilities: { name: string; description: string; inputSchema?: unknown }[];
  maxConcurrency?: number;
  inFlight?: number;
  /** Calls recorded so far. */
  calls?: number;
  ewmaLatencyMs?: number;
  successRate?: number;
  circuit: AgentState['circuit'];
}

/**
 * Discovery for every role: the capabilities this deployment runs, by agent, with each routed
 * agent's live statistics and breaker once it has been called (built-in agents alone on their
 * capability run unrouted: no statistics are kept for them).
 */
export const listAgents = async (
  deps: { agents: AgentRegistry; agentStates?: AgentStateStore },
  principal: Principal,
  rawInput: ListAgentsInput,
): Promise<{ agents: AgentView[] }> => {
  const { capability } = ListAgentsInputSchema.parse(rawInput);
  const describe = (name: string) => {
    const agent = deps.agents.get(name);
    const schema = agent?.input ? z.toJSONSchema(agent.input, { unrepresentable: 'any' }) : undefined;
    return { name, description: agent?.description ?? '', ...(schema ? { inputSchema: schema } : {}) };
  };
  const stats = new Map(((await deps.agentStates?.list()) ?? []).map((a) => [a.agentId, a]));
  const offers = deps.agents.offers?.() ?? deps.agents.capabilities().map((c) => ({ agentId: c, kind: 'builtin', capabilities: [c] }));
  const views: AgentView[] = offers.map((offer) => {
    const live = stats.get(offer.agentId);
    return {
      agentId: offer.agentId,
      kind: offer.kind as AgentView['kind'],
      capabilities: offer.capabilities.map(describe),
      ...(live
        ? {
            maxConcurrency: live.maxConcurrency,
            inFlight: live.inFlight,
            calls: live.calls,
            ewmaLatencyMs: Math.round(live.ewmaLatencyMs),
            successRate: Math.round(live.successRate * 1000) / 1000,
          }
        : {}),
      circuit: live?.circuit ?? 'closed',
    };
  });
  return { agents: views.filter((v) => v.capabilities.length > 0 && (!capability || v.capabilities.some((c) => c.name === capability))) };
};
