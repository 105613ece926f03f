import * as z from 'zod';
import type { AgentState, AgentStateStore } from '../agent-routing';
import type { AgentRegistry } from '../ports';
import { authorize, type Principal } from '../principal';
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
  ewmaLatencyMs?: number;
  successRate?: number;
  circuit: AgentState['circuit'];
}

/**
 * Discovery for every role: the capabilities this deployment runs, by agent, with each routed
 * agent's live statistics and breaker (built-in agents alone on their capability run unrouted:
 * no statistics are kept for them).
 */
export const listAgents = async (
  deps: { agents: AgentRegistry; agentStates?: AgentStateStore },
  principal: Principal,
  rawInput: ListAgentsInput,
): Promise<{ agents: AgentView[] }> => {
  authorize(principal, 'read');
  const { capability } = ListAgentsInputSchema.parse(rawInput);
  const describe = (name: string) => {
    const agent = deps.agents.get(name);
    const schema = agent?.input ? z.toJSONSchema(agent.input, { unrepresentable: 'any' }) : undefined;
    return { name, description: agent?.description ?? '', ...(schema ? { inputSchema: schema } : {}) };
  };
  const routed = (await deps.agentStates?.list()) ?? [];
  const covered = new Set(routed.flatMap((a) => a.capabilities));
  const views: AgentView[] = [
    ...routed.map((a) => ({
      agentId: a.agentId,
      kind: a.kind,
      capabilities: a.capabilities.filter((c) => deps.agents.get(c)).map(describe),
      maxConcurrency: a.maxConcurrency,
      inFlight: a.inFlight,
      ewmaLatencyMs: Math.round(a.ewmaLatencyMs),
      successRate: Math.round(a.successRate * 1000) / 1000,
      circuit: a.circuit,
    })),
    ...deps.agents
      .capabilities()
      .filter((c) => !covered.has(c))
      .map((c) => ({ agentId: c, kind: 'builtin' as const, capabilities: [describe(c)], circuit: 'closed' as const })),
  ];
  return { agents: views.filter((v) => v.capabilities.length > 0 && (!capability || v.capabilities.some((c) => c.name === capability))) };
};
