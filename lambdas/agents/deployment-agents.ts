import type { Connectors } from '../contracts/agent-connectors';
import type { McpServerConnectorConfig } from '../contracts/connectors-mcp';
import type { RouterDeps } from '../domain/agent-routing';
import type { DisabledCapability, SecretStore } from '../domain/connector-ports';
import type { Agent, AgentRegistry, Logger } from '../domain/ports';
import { toAgent } from './agent';
import { httpConnectorAgents } from './http-connector';
import { llmAgent, type Converse } from './llm-step';
import { connectMcpServer } from './mcp-server-connector';
import { BUILT_IN_AGENTS } from './registry';
import { RoutedAgentRegistry, type AgentOffer } from './routed-registry';

/** A downstream server that could not be listed is tried again after this long (its capabilities are missing meanwhile). */
export const DISCOVERY_RETRY_MS = 60_000;
/** How often a function looks for downstream servers operators registered or removed at run time. */
export const REGISTRATIONS_CHECK_MS = 30_000;
/** Calls one connector agent may have running at once, per deployment (its lease limit). */
export const CONNECTOR_MAX_CONCURRENCY = 50;

export interface DeploymentAgentsDeps {
  secrets: SecretStore;
  converse: Converse;
  logger: Logger;
  /** Routing state (leases, statistics, breakers); absent: nothing is routed (unit tests). */
  router?: RouterDeps;
}

/**
 * Every agent a function of this deployment can run: the enabled built-in agents, and the
 * connectors' (an HTTP API's allow-listed operations, each LLM step, each downstream MCP server's
 * tools, discovered when the function starts). Connector capabilities are routed (breaker,
 * statistics). `ready()` finishes the discovery; a server that is down then is logged, its
 * capabilities left out, and tried again at a later `ready()` after DISCOVERY_RETRY_MS.
 */
export class DeploymentAgents implements AgentRegistry {
  private registry: RoutedAgentRegistry;
  private readonly staticOffers: AgentOffer[];
  private readonly discovered = new Map<string, AgentOffer[]>();
  private readonly failedAt = new Map<string, number>();
  readonly disabled: DisabledCapability[] = [];
  private discovering?: Promise<void>;
  /** Downstream servers registered at run time (register_agent), by name, as discovered here. */
  private readonly registered = new Map<string, { url: string; offers: AgentOffer[] }>();
  private registrationsCheckedAt = 0;

  constructor(
    builtIns: readonly string[],
    private readonly connectors: Connectors,
    private readonly deps: DeploymentAgentsDeps,
  ) {
    this.staticOffers = builtIns.map((name) => {
      const module = BUILT_IN_AGENTS.get(name);
      if (!module) throw new Error(`unknown agent "${name}"; built-in agents: ${[...BUILT_IN_AGENTS.keys()].join(', ')}`);
      return { agentId: name, kind: 'builtin' as const, agent: toAgent(module), maxConcurrency: CONNECTOR_MAX_CONCURRENCY, weight: 1 };
    });
    for (const http of connectors.http) {
      const { agents, disabled } = httpConnectorAgents(http, { secrets: deps.secrets, logger: deps.logger });
      this.disabled.push(...disabled);
      this.staticOffers.push(...agents.map((agent) => offer(http.name, 'http', agent)));
    }
    for (const llm of connectors.llm) this.staticOffers.push(offer(llm.name, 'llm', llmAgent(llm, { converse: deps.converse })));
    this.registry = this.build();
  }

  /**
   * Discovers the configured downstream MCP servers not discovered yet (at most once per
   * DISCOVERY_RETRY_MS each), and every REGISTRATIONS_CHECK_MS the ones operators registered or
   * removed since (register_agent / deregister_agent).
   */
  ready(): Promise<void> {
    const due = this.connectors.mcpServers.filter(
      (server) => !this.discovered.has(idOf(server)) && Date.now() - (this.failedAt.get(idOf(server)) ?? 0) >= DISCOVERY_RETRY_MS,
    );
    const checkRegistrations = this.deps.router !== undefined && Date.now() - this.registrationsCheckedAt >= REGISTRATIONS_CHECK_MS;
    if (due.length === 0 && !checkRegistrations) return this.discovering ?? Promise.resolve();
    this.discovering ??= (async () => {
      if (checkRegistrations) await this.syncRegistrations();
      for (const server of due) {
        try {
          const { agents, disabled } = await connectMcpServer(server, { secrets: this.deps.secrets, logger: this.deps.logger });
          this.discovered.set(idOf(server), agents.map((agent) => offer(idOf(server), 'mcp', agent)));
          this.disabled.push(...disabled);
          for (const d of disabled) this.deps.logger.warn('downstream tool not offered', { capability: d.capability, reason: d.reason });
        } catch (error) {
          this.failedAt.set(idOf(server), Date.now());
          this.deps.logger.warn('downstream MCP server not discovered: its capabilities are missing until it answers', { server: server.name, error: String(error).slice(0, 300) });
        }
      }
      this.registry = this.build();
    })().finally(() => {
      this.discovering = undefined;
    });
    return this.discovering;
  }

  /** Discovers servers registered at run time that this function does not know, forgets removed ones. */
  private async syncRegistrations(): Promise<void> {
    this.registrationsCheckedAt = Date.now();
    const configured = new Set(this.connectors.mcpServers.map(idOf));
    const states = await this.deps.router!.agentStates.list().catch(() => undefined);
    if (!states) return;
    const registrations = states.flatMap((a) => (a.registration && !configured.has(a.agentId) ? [a.registration] : []));
    for (const name of [...this.registered.keys()]) {
      if (!registrations.some((r) => r.name === name)) this.registered.delete(name);
    }
    for (const registration of registrations) {
      if (this.registered.get(registration.name)?.url === registration.url) continue;
      try {
        const { agents } = await connectMcpServer(registration, { secrets: this.deps.secrets, logger: this.deps.logger });
        this.registered.set(registration.name, { url: registration.url, offers: agents.map((agent) => offer(registration.name, 'mcp', agent)) });
      } catch (error) {
        this.deps.logger.warn('registered MCP server not discovered: its capabilities are missing until it answers', { server: registration.name, error: String(error).slice(0, 300) });
      }
    }
  }

  private build(): RoutedAgentRegistry {
    return new RoutedAgentRegistry(
      [...this.staticOffers, ...[...this.discovered.values()].flat(), ...[...this.registered.values()].flatMap((r) => r.offers)],
      this.deps.router,
    );
  }

  get(capability: string): Agent | undefined {
    return this.registry.get(capability);
  }

  capabilities(): string[] {
    return this.registry.capabilities();
  }

  offers() {
    return this.registry.offers();
  }

  /** The agents configured in cdk.json (built-in and connectors): managed there, never by register_agent. */
  configuredAgentIds(): ReadonlySet<string> {
    return new Set([...this.staticOffers.map((o) => o.agentId), ...this.connectors.mcpServers.map(idOf)]);
  }

  /** What a downstream server offers, as the functions will discover it (register_agent checks before it saves). */
  discover(config: McpServerConnectorConfig) {
    return connectMcpServer(config, { secrets: this.deps.secrets, logger: this.deps.logger });
  }
}

/** A configured server's agent id: its own, or its namespace. */
const idOf = (server: { name: string; agentId?: string }) => server.agentId ?? server.name;

const offer = (agentId: string, kind: AgentOffer['kind'], agent: Agent): AgentOffer => ({ agentId, kind, agent, maxConcurrency: CONNECTOR_MAX_CONCURRENCY, weight: 1 });
