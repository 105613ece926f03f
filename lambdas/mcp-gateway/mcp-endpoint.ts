import { randomUUID } from 'node:crypto';
import {
  createMcpHandler,
  isLegacyRequest,
  WebStandardStreamableHTTPServerTransport,
  type AuthInfo,
  type McpServer,
} from '@modelcontextprotocol/server';
import { bearerChallenge, FORBIDDEN, type PrincipalLimits, insufficientScopeChallenge, resourceMetadataUrlOf, scopeOf, TOOL_SCOPES, UNAUTHORIZED } from '../contracts';
import type { Logger } from '../domain/ports';
import { PrincipalSchema, type Principal } from '../domain/principal';
import { limitOf, requestTooLargeMessage } from '../domain/principal-limits';
import { forbiddenKeyMessage, hasForbiddenKey, invalidParams } from './message-checks';
import {
  asksForTask,
  declaresTasksExtension,
  MISSING_REQUIRED_CLIENT_CAPABILITY,
  TASK_TOOLS,
  TASKS_EXTENSION,
  taskMethodTool,
  type TaskMethodEra,
} from '../contracts/mcp-tasks';

export interface McpEndpointOptions {
  /** Largest accepted request body, in bytes (413 above it). */
  maxBodyBytes: number;
  /** Hostnames accepted in `Host` (DNS-rebinding protection); undefined accepts any (API Gateway fixes it). */
  allowedHosts?: readonly string[];
  /** Origins accepted when a browser sends `Origin`; by default, those on an allowed host. */
  allowedOrigins?: readonly string[];
  logger: Logger;
  /** The canonical URI of this endpoint (RFC 8707): its challenges name its metadata (`resourceMetadataUrlOf`). */
  resource: string;
  /** What one principal may send at once (auth.limits): its request bodies stay under its roles' maxRequestBytes. */
  limits?: PrincipalLimits;
  /**
   * The principal as tools see it: the token's roles plus the roles granted to it until now
   * (grant_role), read on every tools/list and tools/call. Absent: the token's roles.
   */
  resolvePrincipal?: (principal: Principal) => Promise<Principal>;
  /** Records a call refused at the edge (403 insufficient_scope) in the audit log; must not throw. */
  recordDenial?: (call: EndpointCall, tool: string, code: string) => Promise<void>;
}

/** Who calls, as the authorizer verified it: the principal, the token's scopes and its OAuth client (never the token). */
export interface Caller {
  principal: Principal;
  scopes: readonly string[];
  clientId?: string;
  /** The request's id (API Gateway's), named by its audit entries; absent: one is made up. */
  requestId?: string;
}

/** What the tools of one request know of it: who (roles granted included), through which client, which request. */
export interface EndpointCall {
  principal: Principal;
  clientId?: string;
  requestId: string;
  /** The request's era, and whether its client asked for an MCP task (docs/protocol.md, "MCP tasks"). */
  protocol?: { era: TaskMethodEra; tasks: boolean };
}

export type ServerFactory = (call: EndpointCall) => McpServer;

/** JSON-RPC error codes used at the edge. */
export const RPC = { parseError: -32700, invalidRequest: -32600, methodNotFound: -32601, invalidParams: -32602, internal: -32603 } as const;

export const jsonRpcError = (
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
  id: string | number | null = null,
  data?: unknown,
): Response =>
  new Response(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message, ...(data !== undefined ? { data } : {}) } }), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });

/** The one answer to any method but POST (the Lambda adapter uses it for methods a web Request cannot carry). */
export const methodNotAllowed = (): Response =>
  jsonRpcError(405, RPC.invalidRequest, 'Method not allowed: this stateless endpoint accepts POST only', { allow: 'POST' });

/**
 * The SDK's view of the caller. The inbound token is not passed on: nothing past the edge needs it
 * (the tools see the principal only, and downstream calls use the platform's own credentials), so
 * `token` is empty (the SDK's type requires the field).
 */
const toAuthInfo = ({ principal, scopes, clientId }: Caller, requestId: string, protocol: EndpointCall['protocol']): AuthInfo => ({
  token: '',
  clientId: clientId ?? principal.subject,
  scopes: [...scopes],
  extra: { principal, requestId, ...(clientId ? { clientId } : {}), ...(protocol ? { protocol } : {}) },
});

/** The answer to a request without a valid token (as API Gateway's UNAUTHORIZED gateway response): where to get one. */
export const unauthorizedAnswer = (resource: string): Response =>
  jsonRpcError(UNAUTHORIZED.status, UNAUTHORIZED.code, UNAUTHORIZED.message, { 'www-authenticate': bearerChallenge(resourceMetadataUrlOf(resource)) });

/**
 * The scope a tools/call needs and the token lacks. A name that is no tool of this endpoint needs none here:
 * the server answers it is unknown (every tool the gateway registers has a family: test/unit/mcp-gateway.test.ts).
 */
const missingScope = (
  message: { method?: unknown; params?: unknown },
  scopes: readonly string[],
  era: TaskMethodEra,
): { tool: string; scope: string } | undefined => {
  // A task method needs the scope of the tool it stands for (tasks/get: get_task's).
  const asTool = taskMethodTool(era, message.method);
  if (message.method !== 'tools/call' && !asTool) return undefined;
  const tool = asTool ?? String((message.params as { name?: unknown } | undefined)?.name);
  const family = Object.hasOwn(TOOL_SCOPES, tool) ? TOOL_SCOPES[tool] : undefined;
  if (!family || scopes.includes(scopeOf(family))) return undefined;
  return { tool: asTool ? String(message.method) : tool, scope: scopeOf(family) };
};

const callOf = (authInfo: AuthInfo | undefined): EndpointCall => {
  const clientId = authInfo?.extra?.['clientId'];
  const protocol = authInfo?.extra?.['protocol'] as EndpointCall['protocol'];
  return {
    principal: PrincipalSchema.parse(authInfo?.extra?.['principal']),
    requestId: String(authInfo?.extra?.['requestId']),
    ...(typeof clientId === 'string' ? { clientId } : {}),
    ...(protocol ? { protocol } : {}),
  };
};

/** Whether an Accept header admits a JSON response (application/json, application/*, or *\/*). */
const acceptsJson = (accept: string): boolean =>
  accept
    .split(',')
    .map((part) => part.split(';')[0]!.trim().toLowerCase())
    .some((type) => type === 'application/json' || type === 'application/*' || type === '*/*');

/** `host[:port]` as RFC 9110 allows it in Host (no user info, no path): a DNS name, IPv4 or [IPv6]. */
const HOST_HEADER = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.?|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/** The hostname of a Host header value, or '' when it is not a valid one (so no allow-list admits it). */
const hostnameOf = (host: string): string => {
  if (!HOST_HEADER.test(host) || !URL.canParse(`http://${host}`)) return '';
  return new URL(`http://${host}`).hostname.replace(/^\[|\]$/g, '');
};

/**
 * The SDK warns on the console, once per handler, that JSON responses drop mid-call
 * notifications. This endpoint is JSON by design (a buffered Lambda response cannot stream) and
 * its tools send none, so that one warning is dropped; anything else still reaches the console.
 */
const withoutJsonModeWarning = <T>(build: () => T): T => {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith("responseMode: 'json'")) return;
    warn(...args);
  };
  try {
    return build();
  } finally {
    console.warn = warn;
  }
};

/**
 * One stateless Streamable HTTP endpoint for both MCP eras. 2026-07-28 requests (per-request
 * `_meta` envelope) go to the SDK's `createMcpHandler`; 2025-era requests to a per-request
 * stateless transport with JSON responses, built from the same factory. Both answer JSON, never
 * a stream: a buffered Lambda response cannot stream.
 */
export const createMcpEndpoint = (factory: ServerFactory, options: McpEndpointOptions) => {
  // A client's bad request is the client's problem: INFO, so a hostile caller cannot flood WARN.
  const onerror = (error: Error) => options.logger.info('mcp request rejected', { error: error.message });
  const modern = withoutJsonModeWarning(() =>
    createMcpHandler((ctx) => factory(callOf(ctx.authInfo)), {
      legacy: 'reject',
      responseMode: 'json',
      maxRequestBodySize: options.maxBodyBytes,
      onerror,
    }),
  );

  const serveLegacy = async (request: Request, parsedBody: unknown, authInfo: AuthInfo): Promise<Response> => {
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    const server = factory(callOf(authInfo));
    transport.onerror = onerror;
    try {
      await server.connect(transport);
      return await transport.handleRequest(request, { parsedBody, authInfo });
    } finally {
      await server.close().catch(() => undefined);
    }
  };

  const originAllowed = (origin: string): boolean => {
    if (options.allowedOrigins) return options.allowedOrigins.includes(origin);
    if (!options.allowedHosts) return true;
    return URL.canParse(origin) && options.allowedHosts.includes(hostnameOf(new URL(origin).host));
  };
  const tooLarge = () => jsonRpcError(413, RPC.invalidRequest, `Payload Too Large: the limit is ${options.maxBodyBytes} bytes`);

  /** 403 insufficient_scope (RFC 6750 §3.1): the scope the tool needs, in the challenge and in the JSON-RPC error. */
  const insufficientScope = (missing: { tool: string; scope: string }, id: string | number | null): Response =>
    jsonRpcError(FORBIDDEN.status, FORBIDDEN.code, `Forbidden: insufficient_scope: tool ${missing.tool} requires scope ${missing.scope}`, {
      'www-authenticate': insufficientScopeChallenge(missing.scope, resourceMetadataUrlOf(options.resource)),
    }, id);

  /** Granted roles join the token's; when they cannot be read, the token's roles alone (never more than the token). */
  const resolvePrincipal = async (principal: Principal): Promise<Principal> => {
    if (!options.resolvePrincipal) return principal;
    try {
      return await options.resolvePrincipal(principal);
    } catch (error) {
      options.logger.warn('role grants unreadable: the token\'s roles only', { error: error instanceof Error ? error.message : String(error) });
      return principal;
    }
  };

  return async (request: Request, caller: Caller): Promise<Response> => {
    if (request.method !== 'POST') return methodNotAllowed();
    const host = request.headers.get('host') ?? new URL(request.url).host;
    if (options.allowedHosts && !options.allowedHosts.includes(hostnameOf(host))) {
      return jsonRpcError(403, RPC.invalidRequest, 'Forbidden: Host header not allowed');
    }
    const origin = request.headers.get('origin');
    if (origin && !originAllowed(origin)) {
      return jsonRpcError(403, RPC.invalidRequest, 'Forbidden: Origin not allowed');
    }
    const contentType = request.headers.get('content-type') ?? '';
    if (!/^application\/json\s*(;|$)/i.test(contentType)) {
      return jsonRpcError(415, RPC.invalidRequest, 'Unsupported Media Type: Content-Type must be application/json');
    }
    const accept = request.headers.get('accept');
    if (accept && !acceptsJson(accept)) {
      return jsonRpcError(406, RPC.invalidRequest, 'Not Acceptable: this endpoint answers application/json');
    }
    // The endpoint's limit, and below it the caller's own (its roles' maxRequestBytes, from the token: no read).
    const own = options.limits ? limitOf(caller.principal, options.limits).maxRequestBytes : Infinity;
    const tooLargeForCaller = own < options.maxBodyBytes ? () => jsonRpcError(413, RPC.invalidRequest, requestTooLargeMessage({ maxRequestBytes: own })) : tooLarge;
    const limit = Math.min(own, options.maxBodyBytes);
    const declared = Number(request.headers.get('content-length') ?? '0');
    if (declared > limit) return tooLargeForCaller();
    const text = await request.text();
    if (Buffer.byteLength(text) > limit) return tooLargeForCaller();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return jsonRpcError(400, RPC.parseError, 'Parse error: the body is not valid JSON');
    }
    if (Array.isArray(body)) {
      return jsonRpcError(400, RPC.invalidRequest, 'Invalid Request: JSON-RPC batches are not supported');
    }
    if (typeof body !== 'object' || body === null || (body as { jsonrpc?: unknown }).jsonrpc !== '2.0') {
      return jsonRpcError(400, RPC.invalidRequest, 'Invalid Request: expected a JSON-RPC 2.0 message');
    }
    if (hasForbiddenKey(body)) return jsonRpcError(400, RPC.invalidRequest, forbiddenKeyMessage);
    const message = body as { method?: unknown; id?: string | number; params?: unknown };
    const { method, id } = message;
    if (method === 'subscriptions/listen') {
      return jsonRpcError(
        400,
        RPC.methodNotFound,
        'subscriptions/listen is not supported: this endpoint is stateless and answers JSON, not streams',
        {},
        id ?? null,
      );
    }

    // The body was read above; both legs get it parsed, and a fresh request for anything else they read.
    const replay = new Request(request.url, { method: 'POST', headers: request.headers, body: text });
    try {
      const legacy = await isLegacyRequest(replay, body, { maxRequestBodySize: options.maxBodyBytes });
      const era: TaskMethodEra = legacy ? 'legacy' : 'modern';
      const taskMethod = taskMethodTool(era, method) !== undefined;
      // 2026-07-28: the task methods belong to the tasks extension; a request that does not declare it gets -32021 (SEP-2575).
      if (!legacy && taskMethod && !declaresTasksExtension(message.params)) {
        return jsonRpcError(400, MISSING_REQUIRED_CLIENT_CAPABILITY, `Missing required client capability: ${String(method)} needs the ${TASKS_EXTENSION} extension`, {}, id ?? null, {
          requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } },
        });
      }
      // The SDK answers bad params of protocol methods with -32603 and a raw schema dump: answer first.
      const invalid = invalidParams(era, message);
      if (invalid) return jsonRpcError(200, RPC.invalidParams, invalid, {}, id ?? null);
      const tool = method === 'tools/call' ? String((message.params as { name?: unknown } | undefined)?.name) : undefined;
      // 2025-11-25: a task-augmented call of a tool that cannot run as a task is refused (-32601), not run synchronously.
      if (legacy && tool !== undefined && asksForTask(message.params) && Object.hasOwn(TOOL_SCOPES, tool) && !TASK_TOOLS.has(tool)) {
        return jsonRpcError(200, RPC.methodNotFound, `Tool ${tool} does not run as a task (execution.taskSupport is forbidden)`, {}, id ?? null);
      }
      const protocol = { era, tasks: tool !== undefined && TASK_TOOLS.has(tool) && (legacy ? asksForTask(message.params) : declaresTasksExtension(message.params)) };
      const resolved = method === 'tools/list' || method === 'tools/call' || taskMethod ? await resolvePrincipal(caller.principal) : caller.principal;
      const requestId = caller.requestId ?? randomUUID();
      const authInfo = toAuthInfo({ ...caller, principal: resolved }, requestId, protocol);
      const missing = missingScope(message, caller.scopes, era);
      if (missing) {
        await options.recordDenial?.({ principal: resolved, requestId, ...(caller.clientId ? { clientId: caller.clientId } : {}) }, missing.tool, 'INSUFFICIENT_SCOPE');
        return insufficientScope(missing, id ?? null);
      }
      return legacy ? await serveLegacy(replay, body, authInfo) : await modern.fetch(replay, { authInfo, parsedBody: body });
    } catch (error) {
      options.logger.error('mcp endpoint failed', { error: error instanceof Error ? error.stack : String(error) });
      return jsonRpcError(500, RPC.internal, 'Internal error', {}, id ?? null);
    }
  };
};

export type McpEndpoint = ReturnType<typeof createMcpEndpoint>;
