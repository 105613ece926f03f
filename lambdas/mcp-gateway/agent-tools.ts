import type { McpServer } from '@modelcontextprotocol/server';
import * as z from 'zod';
import type { Principal } from '../domain/principal';
import type { DecidedRun } from './tools';
import { DeregisterAgentInputSchema, deregisterAgent, RegisterAgentInputSchema, registerAgent, type RegisterAgentDeps } from '../domain/use-cases/register-agents';

const RegisterOutputSchema = z.object({
  agentId: z.string(),
  capabilities: z.array(z.string()),
  disabled: z.array(z.object({ capability: z.string(), reason: z.string() })),
});
const DeregisterOutputSchema = z.object({ agentId: z.string(), deregistered: z.boolean() });

/** The tools over the agent registry (admins and operators, as the access policy decides): register and deregister a downstream MCP server at run time. */
export const registerAgentTools = (
  server: McpServer,
  deps: RegisterAgentDeps,
  principal: Principal,
  decided: DecidedRun,
): void => {
  server.registerTool(
    'register_agent',
    {
      title: 'Register a downstream MCP server',
      description:
        'Admin or operator: offer a remote MCP server\'s tools as capabilities (<agentId>.<tool>). It is discovered first; a server that does not answer, ' +
        'or offers no usable tool, is refused. Credentials: name a secret of the platform\'s secret store, never the value.',
      inputSchema: RegisterAgentInputSchema,
      outputSchema: RegisterOutputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    },
    (args) => decided('register_agent', {}, async () => ({ ...(await registerAgent(deps, principal, args)) }), { args }),
  );
  server.registerTool(
    'deregister_agent',
    {
      title: 'Deregister a downstream MCP server',
      description: 'Admin or operator: stop offering a server registered with register_agent (calls in flight finish).',
      inputSchema: DeregisterAgentInputSchema,
      outputSchema: DeregisterOutputSchema,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    (args) => decided('deregister_agent', {}, async () => ({ ...(await deregisterAgent(deps, principal, args)) }), { args }),
  );
};
