import type { Agent, AgentRegistry } from '../domain/ports';
import type { AgentModule } from './agent';
import { chaosModule } from './chaos';
import { echoModule } from './echo';
import { toAgent } from './agent';

/** Every agent module this build ships, by name. Deployments enable a subset (cdk.json `agents`). */
export const BUILT_IN_AGENTS: ReadonlyMap<string, AgentModule> = new Map(
  [echoModule, chaosModule].map((module) => [module.manifest.name, module as AgentModule]),
);

export class StaticAgentRegistry implements AgentRegistry {
  private readonly agents: ReadonlyMap<string, Agent>;

  constructor(agents: Iterable<Agent>) {
    this.agents = new Map([...agents].map((agent) => [agent.capability, agent]));
  }

  /** Enables the named built-in agents; an unknown name is a configuration error. */
  static fromNames(names: readonly string[]): StaticAgentRegistry {
    return new StaticAgentRegistry(
      names.map((name) => {
        const module = BUILT_IN_AGENTS.get(name);
        if (!module) throw new Error(`unknown agent "${name}"; built-in agents: ${[...BUILT_IN_AGENTS.keys()].join(', ')}`);
        return toAgent(module);
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
