import * as z from 'zod';
import { HttpConnectorConfigSchema } from './connectors';
import { McpServerConnectorConfigSchema } from './connectors-mcp';
import { LlmCapabilityConfigSchema } from './llm';

/**
 * The connectors of a deployment (cdk.json `connectors`): downstream MCP servers whose tools
 * become capabilities, HTTP APIs whose allow-listed OpenAPI operations do, and LLM steps on Bedrock.
 * Secrets are named here, never given: the secret store holds their values.
 */
export const ConnectorsSchema = z
  .object({
    mcpServers: z.array(McpServerConnectorConfigSchema).default([]),
    http: z.array(HttpConnectorConfigSchema).default([]),
    llm: z.array(LlmCapabilityConfigSchema).default([]),
  })
  .strict();
export type Connectors = z.output<typeof ConnectorsSchema>;
export type ConnectorsInput = z.input<typeof ConnectorsSchema>;

export const NO_CONNECTORS: Connectors = { mcpServers: [], http: [], llm: [] };

/** Every secret the connectors name (the functions may read these, and only these). */
export const secretNamesOf = (connectors: Connectors): string[] =>
  [...new Set([...connectors.mcpServers, ...connectors.http].flatMap((c) => (c.secret ? [c.secret.name] : [])))].sort();
