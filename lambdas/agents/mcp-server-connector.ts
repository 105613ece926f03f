import { Client, ProtocolError, SdkError, SdkErrorCode, SdkHttpError, StreamableHTTPClientTransport, type Tool } from '@modelcontextprotocol/client';
import * as z from 'zod';
import { McpServerConnectorConfigSchema, type McpServerConnectorConfig, type McpServerConnectorConfigInput } from '../contracts/connectors-mcp';
import type { DisabledCapability, SecretStore } from '../domain/connector-ports';
import type { Agent, Logger } from '../domain/ports';
import { CapabilitySchema } from '../domain/task';

/**
 * A downstream MCP server as agents (federation): each of its tools is offered as the capability
 * `<server>.<tool>`, and a task for it calls that tool.
 *
 * - The server is called with the PLATFORM's credentials, read from the secret store when a
 *   connection is opened; the caller's token has no way in (nothing here takes it).
 * - One fresh connection per call (connect, `tools/call`, close): stateless, so it suits a Lambda
 *   worker and a downstream that restarted, at the cost of an `initialize` round trip per task.
 * - The client speaks the 2025-11-25 era (the v2 client's default), which every server answers.
 * - Inputs, outputs and secrets are never logged; errors name the server and its URL without the
 *   query string.
 */

export interface McpServerConnectorDeps {
  secrets: SecretStore;
  logger?: Logger;
  /** The HTTP client; default the global fetch. */
  fetch?: typeof fetch;
}

export interface McpServerConnection {
  agents: Agent[];
  disabled: DisabledCapability[];
}

/** The server did not answer in time, refused the connection, or answered 5xx/429: count it against the server. */
export class DownstreamUnavailableError extends Error {
  override name = 'DownstreamUnavailableError';
}

/** The server answered but refused the request (4xx, a JSON-RPC error, a result that is not one). */
export class DownstreamRequestError extends Error {
  override name = 'DownstreamRequestError';
}

/** The tool ran and reported a failure (`isError: true`); the message is its own text, shortened. */
export class DownstreamToolError extends Error {
  override name = 'DownstreamToolError';
}

const CLIENT_INFO = { name: 'switchboard', version: '0.1.0' };
const MAX_MESSAGE = 200;
const MAX_DESCRIPTION = 2_000;

/** Connects to the server, lists its tools and builds one agent per tool it can offer. */
export const connectMcpServer = async (configInput: McpServerConnectorConfigInput, deps: McpServerConnectorDeps): Promise<McpServerConnection> => {
  const config = parseConfig(configInput);
  const tools = await withSession(config, deps, 'tools/list', undefined, (client, options) => client.listTools(undefined, { ...options, cacheMode: 'bypass' }));

  const agents: Agent[] = [];
  const disabled: DisabledCapability[] = [];
  const taken = new Map<string, string>();
  const allowed = config.tools ? new Set(config.tools) : undefined;
  for (const tool of tools.tools) {
    if (allowed && !allowed.has(tool.name)) continue;
    const offered = toAgent(config, deps, tool, taken);
    if ('reason' in offered) disabled.push(offered);
    else agents.push(offered);
  }
  const listed = new Set(tools.tools.map((tool) => tool.name));
  for (const name of config.tools ?? []) {
    if (!listed.has(name)) disabled.push({ capability: capabilityOf(config.name, name), reason: `tool "${name}" is allow-listed but the server does not offer it` });
  }

  deps.logger?.info('downstream MCP server connected', { server: config.name, url: safeUrl(config.url), capabilities: agents.length, disabled: disabled.length });
  for (const capability of disabled) deps.logger?.warn('downstream MCP tool not offered', { server: config.name, ...capability });
  return { agents, disabled };
};

const parseConfig = (input: McpServerConnectorConfigInput): McpServerConnectorConfig => {
  const parsed = McpServerConnectorConfigSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(config)'}: ${issue.message}`);
  throw new Error(`invalid MCP server connector config: ${issues.join('; ')}`);
};

/** `crm` + `lookupCustomer` → `crm.lookup_customer`; anything else outside [a-z0-9_.-] becomes `_`. */
const capabilityOf = (server: string, toolName: string): string =>
  `${server}.${toolName
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '_')}`;

const toAgent = (config: McpServerConnectorConfig, deps: McpServerConnectorDeps, tool: Tool, taken: Map<string, string>): Agent | DisabledCapability => {
  const capability = capabilityOf(config.name, tool.name);
  const disable = (reason: string): DisabledCapability => ({ capability, reason: `tool "${oneLine(tool.name)}": ${reason}` });
  if (!CapabilitySchema.safeParse(capability).success) return disable('its name does not map to a capability name (lower-case, at most 64 characters with the server name)');
  const other = taken.get(capability);
  if (other !== undefined) return disable(`its name maps to ${capability}, as tool "${other}" does`);
  taken.set(capability, tool.name);
  if (tool.execution?.taskSupport === 'required') return disable('it must be called as an MCP task, which this connector does not do');
  const input = inputSchemaOf(tool.inputSchema);
  if ('reason' in input) return disable(input.reason);

  const schema = input.schema;
  return {
    capability,
    description: (tool.description ?? tool.title ?? `Tool ${tool.name} of the MCP server ${config.name}.`).slice(0, MAX_DESCRIPTION),
    input: schema,
    run: async (value, context) => {
      const args = schema.parse(value) as Record<string, unknown>;
      const result = await withSession(config, deps, 'tools/call', context.signal, (client, options) => client.callTool({ name: tool.name, arguments: args }, options));
      if (result.isError) throw new DownstreamToolError(`downstream tool ${capability} failed: ${textOf(result.content) || 'no message'}`);
      return result.structuredContent ?? result.content;
    },
  };
};

/** The tool's JSON Schema as zod (zod 4's `fromJSONSchema`), or why it cannot be offered. */
const inputSchemaOf = (jsonSchema: unknown): { schema: z.ZodType } | { reason: string } => {
  if (typeof jsonSchema !== 'object' || jsonSchema === null || (jsonSchema as { type?: unknown }).type !== 'object') {
    return { reason: 'its inputSchema is not an object schema' };
  }
  let schema: z.ZodType;
  try {
    schema = z.fromJSONSchema(jsonSchema as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (error) {
    return { reason: `its inputSchema cannot be used: ${shorten(error instanceof Error ? error.message : String(error))}` };
  }
  if (schema.safeParse([]).success || schema.safeParse('').success) return { reason: 'its inputSchema is not an object schema' };
  return { schema };
};

interface SessionOptions {
  signal: AbortSignal;
  timeout: number;
}

/**
 * Opens a connection with the platform's credentials, does `work`, closes. The whole of it is
 * bounded by `timeoutMs` and by `outer` (the task's signal); a server that does not answer in time
 * is a DownstreamUnavailableError, while an abort from `outer` is passed on as its own reason.
 */
const withSession = async <T>(
  config: McpServerConnectorConfig,
  deps: McpServerConnectorDeps,
  method: string,
  outer: AbortSignal | undefined,
  work: (client: Client, options: SessionOptions) => Promise<T>,
): Promise<T> => {
  outer?.throwIfAborted();
  const deadline = AbortSignal.timeout(config.timeoutMs);
  const signal = outer ? AbortSignal.any([deadline, outer]) : deadline;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  const options = { signal, timeout: config.timeoutMs };
  const session: { client?: Client; phase: string } = { phase: 'initialize' };
  try {
    return await Promise.race([
      (async () => {
        const headers = await credentialHeaders(config, deps.secrets);
        signal.throwIfAborted(); // the race is lost already: open nothing that would not be closed
        const client = (session.client = new Client(CLIENT_INFO, { capabilities: {} }));
        const transport = new StreamableHTTPClientTransport(new URL(config.url), {
          requestInit: { headers },
          ...(deps.fetch ? { fetch: deps.fetch } : {}),
        });
        await client.connect(transport, options);
        session.phase = method;
        return work(client, options);
      })(),
      aborted,
    ]);
  } catch (error) {
    if (outer?.aborted) throw outer.reason;
    // Before a connection: the secret store failed (SecretNotFoundError, say), not the server.
    if (!session.client) throw deadline.aborted ? new Error(`secret "${config.secret?.name}" was not read within ${config.timeoutMs} ms`) : error;
    throw classify(config, session.phase, error, deadline.aborted);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
    await session.client?.close().catch(() => undefined);
  }
};

/** The platform's credentials for the server, read from the store now (so a rotation applies). */
const credentialHeaders = async (config: McpServerConnectorConfig, secrets: SecretStore): Promise<Record<string, string>> => {
  if (!config.secret) return {};
  const value = await secrets.get(config.secret.name);
  return { [config.secret.header]: config.secret.scheme ? `${config.secret.scheme} ${value}` : value };
};

/** One line for an error from the client: did the server not answer, or did it refuse? */
const classify = (config: McpServerConnectorConfig, method: string, error: unknown, timedOut: boolean): Error => {
  const server = `downstream MCP server ${config.name} (${safeUrl(config.url)})`;
  const unavailable = (reason: string) => new DownstreamUnavailableError(`${server} did not answer: ${reason}`);
  const refused = (reason: string) => new DownstreamRequestError(`${server} refused ${method}: ${reason}`);

  if (timedOut || (error instanceof SdkError && error.code === SdkErrorCode.RequestTimeout)) return unavailable(`no answer within ${config.timeoutMs} ms`);
  if (error instanceof SdkHttpError) {
    const status = error.status;
    if (status >= 500 || status === 429 || status === 408) return unavailable(`HTTP ${status}`);
    if (status === 401 || status === 403) return refused(`HTTP ${status}, the platform's credentials were not accepted`);
    return refused(`HTTP ${status}`);
  }
  const network = networkCodeOf(error);
  if (network) return unavailable(NETWORK_REASONS[network] ?? `network error (${network})`);
  if (error instanceof ProtocolError) return refused(`JSON-RPC error ${error.code}: ${shorten(error.message)}`);
  if (error instanceof SdkError) {
    if (error.code === SdkErrorCode.ConnectionClosed || error.code === SdkErrorCode.SendFailed) return unavailable(shorten(error.message));
    if (error.code === SdkErrorCode.ClientHttpAuthentication || error.code === SdkErrorCode.ClientHttpForbidden) {
      return refused("the platform's credentials were not accepted");
    }
    return refused(shorten(error.message));
  }
  return unavailable(shorten(error instanceof Error ? error.message : String(error)));
};

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (ECONNREFUSED)',
  ECONNRESET: 'connection reset (ECONNRESET)',
  ENOTFOUND: 'host not found (ENOTFOUND)',
  EAI_AGAIN: 'host not found (EAI_AGAIN)',
  ETIMEDOUT: 'connection timed out (ETIMEDOUT)',
  EHOSTUNREACH: 'host unreachable (EHOSTUNREACH)',
  UND_ERR_SOCKET: 'connection closed (UND_ERR_SOCKET)',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out (UND_ERR_CONNECT_TIMEOUT)',
};

/** The system or undici error code somewhere in the error's cause chain (fetch wraps it in `TypeError: fetch failed`). */
const networkCodeOf = (error: unknown): string | undefined => {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(code)) return code;
    const nested = (current as { errors?: unknown[] }).errors?.[0];
    if (nested instanceof Error && typeof (nested as NodeJS.ErrnoException).code === 'string') return (nested as NodeJS.ErrnoException).code;
  }
  return undefined;
};

/** The text blocks of a tool result, on one short line. */
const textOf = (content: unknown): string => {
  if (!Array.isArray(content)) return '';
  const texts = content.flatMap((block: unknown) =>
    typeof block === 'object' && block !== null && (block as { type?: unknown }).type === 'text' && typeof (block as { text?: unknown }).text === 'string'
      ? [(block as { text: string }).text]
      : [],
  );
  return shorten(texts.join(' '));
};

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();
const shorten = (text: string) => {
  const line = oneLine(text);
  return line.length > MAX_MESSAGE ? `${line.slice(0, MAX_MESSAGE - 1)}…` : line;
};

/** The URL without its query string or fragment (which may carry a key). */
const safeUrl = (url: string) => {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
};
