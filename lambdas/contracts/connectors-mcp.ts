import * as z from 'zod';

/**
 * A downstream MCP server offered as agents (federation): each of its tools becomes the capability
 * `<name>.<tool>`. The config names the secret that holds the platform's credentials for that
 * server, never the credentials themselves.
 */

const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

/** Headers the MCP transport sets itself (or that fetch owns): a secret must not replace them. */
const RESERVED_HEADERS = /^(mcp-.*|content-type|content-length|accept|host|connection|last-event-id)$/;

export const McpServerSecretSchema = z
  .object({
    /** The secret's name in the platform's secret store. */
    name: z.string().min(1).max(512),
    /** The header that carries it, on every request to the server. */
    header: z
      .string()
      .regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, 'a lower-case HTTP header name')
      .refine((header) => !RESERVED_HEADERS.test(header), 'a header the MCP transport sets itself')
      .default('authorization'),
    /** Put before the value, with a space (`Bearer` gives `authorization: Bearer <value>`); absent: the value alone. */
    scheme: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,31}$/, 'one word, such as Bearer').optional(),
  })
  .strict();

export const McpServerConnectorConfigSchema = z
  .object({
    /** The namespace of its capabilities (`crm` gives `crm.lookup`). */
    name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'lower-case letters, digits and -, starting with a letter'),
    /** Its Streamable HTTP endpoint: https, or http to a loopback address (local runs and tests). */
    url: z
      .url({ protocol: /^https?$/ })
      .refine((url) => {
        const parsed = new URL(url);
        return parsed.protocol === 'https:' || LOOPBACK_HOSTS.includes(parsed.hostname);
      }, 'https, or http to localhost')
      .refine((url) => {
        const parsed = new URL(url);
        return parsed.username === '' && parsed.password === '';
      }, 'no credentials in the URL: name a secret instead'),
    /** The platform's credentials for the server; absent: it is called without any. */
    secret: McpServerSecretSchema.optional(),
    /** Bound on one connect + call (and on discovery), in milliseconds. */
    timeoutMs: z.number().int().min(100).max(900_000).default(15_000),
    /** The only tools offered, by the names the server gives them; absent: all. */
    tools: z.array(z.string().min(1).max(128)).min(1).optional(),
    /**
     * The agent's own id, when several servers offer one namespace (replicas of one system): their
     * capabilities are the same, and calls are routed among them. Absent: the name.
     */
    agentId: z.string().regex(/^[a-z][a-z0-9-]{0,47}$/).optional(),
  })
  .strict();

export type McpServerConnectorConfig = z.infer<typeof McpServerConnectorConfigSchema>;
/** The config as written (defaults not yet applied). */
export type McpServerConnectorConfigInput = z.input<typeof McpServerConnectorConfigSchema>;
