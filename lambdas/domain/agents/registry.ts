import type { Agent, AgentRegistry } from '../ports';
import { echoAgent } from './echo';

/** Every agent this build ships, by capability. Deployments enable a subset by name. */
export const BUILT_IN_AGENTS: ReadonlyMap<string, Agent> = new Map([[echoAgent.capability, echoAgent]]);

export class StaticAgentRegistry implements AgentRegistry {
  private readonly agents: ReadonlyMap<string, Agent>;

  constructor(agents: Iterable<Agent>) {
    this.agents = new Map([...agents].map((agent) => [agent.capability, agent]));
  }

  /** Enables the named built-in agents; an unknown name is a configuration error. */
  static fromNames(names: readonly string[]): StaticAgentRegistry {
    return new StaticAgentRegistry(
      names.map((name) => {
        const agent = BUILT_IN_AGENTS.get(name);
        if (!agent) throw new Error(`unknown agent "${name}"; built-in agents: ${[...BUILT_IN_AGENTS.keys()].join(', ')}`);
        return agent;
      }),
    );
  }

  get(capability: string): Agent | undefined {
    return this.agents.get(capability);
  }

  capabilities(): string[] {
    return [...this.agents.keys()].sort();
  }
}
