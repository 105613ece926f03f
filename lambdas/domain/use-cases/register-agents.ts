import * as z from 'zod';
import { McpServerConnectorConfigSchema, type McpServerConnectorConfig } from '../../contracts/connectors-mcp';
import type { AgentStateStore } from '../agent-routing';
import type { DisabledCapability } from '../connector-ports';
import { InvalidTransitionError, NotFoundError, ValidationError } from '../errors';
import type { Agent, Clock, Logger } from '../ports';
import type { Principal } from '../principal';

export const RegisterAgentInputSchema = z
  .object({
    agentId: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/).describe('The server\'s name: its tools become <agentId>.<tool>.'),
    url: z.string().describe('Its Streamable HTTP endpoint (https; http only to loopback).'),
    secret: z
      .object({ name: z.string().min(1).max(512), header: z.string().optional(), scheme: z.string().optional() })
      .strict()
      .optional()
      .describe('The secret store entry holding the platform\'s credentials for it, and the header that carries them.'),
    tools: z.array(z.string().min(1).max(128)).max(200).optional().describe('Only these of its tools (default: all).'),
    timeoutMs: z.number().int().min(100).max(120_000).optional(),
    maxConcurrency: z.number().int().min(1).max(1000).default(50).describe('Calls at once, at most.'),
  })
  .strict();
export type RegisterAgentInput = z.input<typeof RegisterAgentInputSchema>;

export const DeregisterAgentInputSchema = z.object({ agentId: z.string().min(1).max(64) }).strict();

export interface RegisterAgentDeps {
  agentStates: AgentStateStore;
  /** Connects to the server and lists what it offers (the same discovery the functions run). */
  discover(config: McpServerConnectorConfig): Promise<{ agents: Agent[]; disabled: DisabledCapability[] }>;
  /** Agents configured in cdk.json: managed there, not here. */
  configuredAgentIds: ReadonlySet<string>;
  clock: Clock;
  logger: Logger;
}

/**
 * An admin or operator (as the access policy decides) registers a downstream MCP server at run time: it is discovered first (a server
 * that does not answer, or offers no usable tool, is refused and nothing is saved), then recorded
 * with its tools as capabilities; every function picks it up within REGISTRATIONS_CHECK_MS. Its
 * credentials stay in the secret store: the registration names the secret only.
 */
export const registerAgent = async (deps: RegisterAgentDeps, principal: Principal, rawInput: RegisterAgentInput) => {
  const input = RegisterAgentInputSchema.parse(rawInput);
  if (deps.configuredAgentIds.has(input.agentId)) {
    throw new InvalidTransitionError(`agent ${input.agentId} is configured in cdk.json: change it there`);
  }
  const parsed = McpServerConnectorConfigSchema.safeParse({
    name: input.agentId,
    url: input.url,
    ...(input.secret ? { secret: input.secret } : {}),
    ...(input.tools ? { tools: input.tools } : {}),
    ...(input.timeoutMs ? { timeoutMs: input.timeoutMs } : {}),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ValidationError(`${issue.path.join('.') || 'registration'}: ${issue.message}`);
  }
  const found = await deps.discover(parsed.data).catch((error: unknown) => {
    throw new ValidationError(String(error instanceof Error ? error.message : error).slice(0, 300));
  });
  if (found.agents.length === 0) {
    throw new ValidationError(
      `downstream MCP server ${input.agentId} offers no usable tool${found.disabled.length ? `: ${found.disabled.map((d) => `${d.capability} (${d.reason})`).join('; ')}` : ''}`.slice(0, 500),
    );
  }
  const capabilities = found.agents.map((a) => a.capability);
  await deps.agentStates.register(
    { agentId: input.agentId, kind: 'mcp', capabilities, maxConcurrency: input.maxConcurrency, weight: 1, registration: parsed.data },
    deps.clock.now(),
  );
  deps.logger.info('downstream MCP server registered', { agentId: input.agentId, by: principal.subject, capabilities: capabilities.length });
  return { agentId: input.agentId, capabilities, disabled: found.disabled };
};

/** An admin or operator removes a server registered at run time; its calls in flight finish, no new call starts. */
export const deregisterAgent = async (deps: RegisterAgentDeps, principal: Principal, rawInput: z.input<typeof DeregisterAgentInputSchema>) => {
  const { agentId } = DeregisterAgentInputSchema.parse(rawInput);
  if (deps.configuredAgentIds.has(agentId)) throw new InvalidTransitionError(`agent ${agentId} is configured in cdk.json: remove it there`);
  const state = await deps.agentStates.get(agentId);
  if (!state?.registration) throw new NotFoundError(`no registered agent ${agentId}`);
  await deps.agentStates.deregister(agentId);
  deps.logger.info('downstream MCP server deregistered', { agentId, by: principal.subject });
  return { agentId, deregistered: true };
};
