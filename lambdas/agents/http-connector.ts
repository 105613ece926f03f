import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import * as z from 'zod';
import {
  createSafeFetch,
  normalizeHost,
  OutboundRefusedError,
  OutboundResponseTooLargeError,
  type FetchLike,
} from '../adapters/outbound/safe-fetch';
import { HttpConnectorConfigSchema, OpenApiDocumentSchema, type HttpConnectorConfig, type HttpConnectorConfigInput } from '../contracts/connectors';
import type { DisabledCapability, SecretStore } from '../domain/connector-ports';
import { ValidationError } from '../domain/errors';
import type { Agent, AgentContext, Logger } from '../domain/ports';
import { toAgent } from './agent';

/**
 * An HTTP API as agents: each allow-listed operation of its OpenAPI 3 document becomes the agent
 * `<name>.<operationId>`, whose input is the operation's parameters (path, query, header) by name
 * plus `body` (the JSON request body), checked by a zod schema built from the document. Calls go
 * through the safe fetch (allow-listed hosts, no private addresses, capped, timed out); the secret
 * is read at call time and sent as one header, never logged nor returned.
 */

export interface HttpConnectorDeps {
  secrets: SecretStore;
  /** Default: `createSafeFetch` with the config's hosts, timeout and size cap. */
  fetch?: FetchLike;
  logger?: Logger;
  /** Where a document path in the config is read from. Default: the working directory. */
  projectRoot?: string;
}

/** The API answered outside 2xx; the message holds the status and a short excerpt of the body. */
export class HttpStatusError extends Error {
  override name = 'HttpStatusError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Why one operation cannot be offered; becomes a DisabledCapability. */
class UnusableOperationError extends Error {}

const CAPABILITY = /^[a-z][a-z0-9_.-]{0,63}$/;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
/** Header parameters OpenAPI says to ignore (the connector sets them itself). */
const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization']);
/** Header parameters a caller may never set. */
const FORBIDDEN_HEADERS = new Set(['host', 'content-length', 'connection', 'transfer-encoding', 'cookie', 'proxy-authorization', 'te', 'upgrade', 'trailer']);
const RETRY_BASE_MS = 100;
const RETRY_MAX_MS = 2_000;
/** A Retry-After longer than this is not waited for: the status is the answer. */
const RETRY_AFTER_MAX_MS = 5_000;
const EXCERPT_CHARS = 200;
const OutputSchema = z.object({ status: z.number().int(), body: z.unknown() }).strict();
const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

interface ParameterPlan {
  name: string;
  in: 'path' | 'query' | 'header';
  /** Query only: `form` with explode (repeated keys) or without (comma-joined). */
  explode: boolean;
}

interface OperationPlan {
  capability: string;
  description: string;
  method: string;
  pathTemplate: string;
  parameters: ParameterPlan[];
  hasBody: boolean;
  input: z.ZodType;
}

export const httpConnectorAgents = (configInput: HttpConnectorConfigInput, deps: HttpConnectorDeps): { agents: Agent[]; disabled: DisabledCapability[] } => {
  const config = HttpConnectorConfigSchema.parse(configInput);
  const capabilityOf = (operationId: string) => `${config.name}.${operationId}`.toLowerCase().replace(/[^a-z0-9_.-]+/g, '_');
  const disabled: DisabledCapability[] = [];

  let document: Json;
  try {
    document = loadDocument(config, deps.projectRoot ?? process.cwd());
  } catch (error) {
    const reason = `OpenAPI document unusable: ${messageOf(error)}`;
    return { agents: [], disabled: config.operations.map((id) => ({ capability: capabilityOf(id), reason })) };
  }

  const found = indexOperations(document);
  const fetchFn = deps.fetch ?? createSafeFetch(policyOf(config));
  const logger = deps.logger ?? silent;
  const seen = new Set<string>();
  const agents: Agent[] = [];
  for (const operationId of config.operations) {
    const capability = capabilityOf(operationId);
    const disable = (reason: string) => disabled.push({ capability, reason });
    if (!CAPABILITY.test(capability)) {
      disable(`capability name must match ${CAPABILITY.source}`);
      continue;
    }
    if (seen.has(capability)) {
      disable(`operationId ${operationId} gives the same capability as another operation`);
      continue;
    }
    seen.add(capability);
    const entries = found.get(operationId) ?? [];
    if (entries.length === 0) {
      disable(`operationId ${operationId} is not in the OpenAPI document`);
      continue;
    }
    if (entries.length > 1) {
      disable(`operationId ${operationId} appears ${entries.length} times in the OpenAPI document`);
      continue;
    }
    try {
      const plan = planOperation(document, capability, entries[0]!);
      agents.push(agentOf(plan, config, { ...deps, fetch: fetchFn, logger }));
    } catch (error) {
      if (!(error instanceof UnusableOperationError)) throw error;
      disable(error.message);
    }
  }
  return { agents, disabled };
};

/** The safe-fetch policy a connector's config asks for. */
export const policyOf = (config: HttpConnectorConfig) => ({
  allowHosts: config.allowHosts ?? [normalizeHost(new URL(config.baseUrl).hostname)],
  allowPrivateHosts: config.allowPrivateHosts ?? [],
  allowHttpHosts: config.allowHttpHosts ?? [],
  timeoutMs: config.timeoutMs,
  maxResponseBytes: config.maxResponseBytes,
});

const loadDocument = (config: HttpConnectorConfig, projectRoot: string): Json => {
  const raw: unknown = typeof config.openapi === 'string' ? JSON.parse(readFileSync(resolvePath(projectRoot, config.openapi), 'utf8')) : config.openapi;
  const checked = OpenApiDocumentSchema.safeParse(raw);
  if (!checked.success) throw new Error(checked.error.issues[0]?.message ?? 'not an OpenAPI 3 document');
  return checked.data;
};

interface FoundOperation {
  method: string;
  path: string;
  operation: Json;
  pathParameters: unknown[];
}

const indexOperations = (document: Json): Map<string, FoundOperation[]> => {
  const found = new Map<string, FoundOperation[]>();
  const paths = isObject(document.paths) ? document.paths : {};
  for (const [path, item] of Object.entries(paths)) {
    if (!isObject(item)) continue;
    for (const method of METHODS) {
      const operation = item[method];
      if (!isObject(operation) || typeof operation.operationId !== 'string') continue;
      const entry = { method: method.toUpperCase(), path, operation, pathParameters: Array.isArray(item.parameters) ? item.parameters : [] };
      found.set(operation.operationId, [...(found.get(operation.operationId) ?? []), entry]);
    }
  }
  return found;
};

/** Follows local `$ref`s (`#/components/...`) to the object they name. */
const deref = (document: Json, value: unknown): unknown => {
  let current = value;
  for (let depth = 0; isObject(current) && typeof current.$ref === 'string'; depth += 1) {
    const ref = current.$ref;
    if (depth > 16) throw new UnusableOperationError(`$ref ${ref} nests too deep`);
    if (!ref.startsWith('#/')) throw new UnusableOperationError(`external $ref ${ref} is not supported`);
    current = ref
      .slice(2)
      .split('/')
      .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<unknown>((node, segment) => (isObject(node) ? node[segment] : undefined), document);
    if (current === undefined) throw new UnusableOperationError(`$ref ${ref} is not in the document`);
  }
  return current;
};

/** A schema's component refs rewritten to where zod's converter looks for them. */
const rewriteRefs = (value: unknown, defsKey: string): unknown => {
  if (Array.isArray(value)) return value.map((item) => rewriteRefs(item, defsKey));
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [
      key,
      key === '$ref' && typeof item === 'string' && item.startsWith('#/components/schemas/') ? `#/${defsKey}/${item.slice('#/components/schemas/'.length)}` : rewriteRefs(item, defsKey),
    ]),
  );
};

const planOperation = (document: Json, capability: string, found: FoundOperation): OperationPlan => {
  const { operation, method, path } = found;
  // Operation parameters override the path item's by (name, in).
  const byKey = new Map<string, Json>();
  for (const raw of [...found.pathParameters, ...(Array.isArray(operation.parameters) ? operation.parameters : [])]) {
    const parameter = deref(document, raw);
    if (!isObject(parameter) || typeof parameter.name !== 'string' || typeof parameter.in !== 'string') throw new UnusableOperationError('a parameter without name or in');
    byKey.set(`${parameter.in}:${parameter.name}`, parameter);
  }

  const properties: Json = {};
  const required: string[] = [];
  const parameters: ParameterPlan[] = [];
  for (const parameter of byKey.values()) {
    const name = parameter.name as string;
    const location = parameter.in as string;
    if (location === 'header' && IGNORED_HEADERS.has(name.toLowerCase())) continue;
    if (location !== 'path' && location !== 'query' && location !== 'header') throw new UnusableOperationError(`${location} parameter ${name} is not supported`);
    if (location === 'header' && FORBIDDEN_HEADERS.has(name.toLowerCase())) throw new UnusableOperationError(`header parameter ${name} may not be set by a caller`);
    if (!('schema' in parameter)) throw new UnusableOperationError(`parameter ${name} has no schema (content parameters are not supported)`);
    const style = parameter.style ?? (location === 'query' ? 'form' : 'simple');
    if (style !== (location === 'query' ? 'form' : 'simple')) throw new UnusableOperationError(`parameter ${name}: style ${String(style)} is not supported`);
    const target = deref(document, parameter.schema);
    if (isObject(target) && (target.type === 'object' || isObject(target.properties))) throw new UnusableOperationError(`parameter ${name}: object parameters are not supported`);
    if (name in properties) throw new UnusableOperationError(`parameter name ${name} is used twice`);
    properties[name] = parameter.schema;
    if (location === 'path' || parameter.required === true) required.push(name);
    parameters.push({ name, in: location, explode: parameter.explode !== false });
  }
  for (const placeholder of path.matchAll(/\{([^}]+)\}/g)) {
    if (!parameters.some((parameter) => parameter.in === 'path' && parameter.name === placeholder[1])) {
      throw new UnusableOperationError(`path parameter {${placeholder[1]}} is not declared`);
    }
  }

  let hasBody = false;
  if (operation.requestBody !== undefined) {
    const requestBody = deref(document, operation.requestBody);
    const content = isObject(requestBody) && isObject(requestBody.content) ? requestBody.content : {};
    const jsonType = Object.keys(content).find((type) => /^application\/(?:[\w.+-]+\+)?json$/i.test(type.split(';')[0]!.trim()));
    if (jsonType === undefined) throw new UnusableOperationError(`request body ${Object.keys(content).join(', ') || '(no content)'} is not JSON`);
    if ('body' in properties) throw new UnusableOperationError('a parameter named body collides with the request body');
    const media = content[jsonType];
    properties.body = isObject(media) && media.schema !== undefined ? media.schema : {};
    if (isObject(requestBody) && requestBody.required === true) required.push('body');
    hasBody = true;
  }

  const openapi3_0 = String(document.openapi).startsWith('3.0');
  const defsKey = openapi3_0 ? 'definitions' : '$defs';
  const components = isObject(document.components) && isObject(document.components.schemas) ? document.components.schemas : {};
  const jsonSchema = rewriteRefs({ type: 'object', properties, required, additionalProperties: false, [defsKey]: components }, defsKey);
  let input: z.ZodType;
  try {
    input = z.fromJSONSchema(jsonSchema as z.core.JSONSchema.JSONSchema, { defaultTarget: openapi3_0 ? 'openapi-3.0' : 'draft-2020-12' });
  } catch (error) {
    throw new UnusableOperationError(`input schema unusable: ${messageOf(error)}`);
  }

  const texts = [operation.summary, operation.description].filter((text): text is string => typeof text === 'string' && text.trim() !== '');
  const description = ([...new Set(texts)].join('\n\n') || `${method} ${path}`).slice(0, 1024);
  return { capability, description, method, pathTemplate: path, parameters, hasBody, input };
};

const serialize = (value: unknown): string => (Array.isArray(value) ? value.map(String).join(',') : String(value));

const urlOf = (baseUrl: string, plan: OperationPlan, values: Json): URL => {
  const base = new URL(baseUrl);
  const path = plan.pathTemplate.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = serialize(values[name]);
    // `.` and `..` would be read as dot segments and leave the operation's path.
    if (value === '' || value === '.' || value === '..') throw new ValidationError(`path parameter ${name} may not be "${value}"`);
    return encodeURIComponent(value);
  });
  const url = new URL(`${base.origin}${base.pathname.replace(/\/+$/, '')}${path}`);
  for (const parameter of plan.parameters) {
    const value = values[parameter.name];
    if (parameter.in !== 'query' || value === undefined) continue;
    if (Array.isArray(value) && parameter.explode) for (const item of value) url.searchParams.append(parameter.name, String(item));
    else url.searchParams.append(parameter.name, serialize(value));
  }
  return url;
};

interface RunDeps {
  secrets: SecretStore;
  fetch: FetchLike;
  logger: Logger;
}

const agentOf = (plan: OperationPlan, config: HttpConnectorConfig, deps: RunDeps): Agent => {
  // Long enough for every attempt and the waits between them; the safe fetch bounds each attempt.
  const timeoutSeconds = Math.ceil(((config.retries + 1) * config.timeoutMs + config.retries * RETRY_AFTER_MAX_MS) / 1000) + 1;
  return toAgent<unknown, z.infer<typeof OutputSchema>>({
    manifest: { name: plan.capability, timeoutSeconds, permissions: [] },
    description: plan.description,
    input: plan.input,
    output: OutputSchema,
    run: async (input, context) => {
      const values = isObject(input) ? input : {};
      const url = urlOf(config.baseUrl, plan, values);
      const headers: Record<string, string> = { accept: 'application/json, text/plain;q=0.9, */*;q=0.8' };
      for (const parameter of plan.parameters) {
        if (parameter.in === 'header' && values[parameter.name] !== undefined) headers[parameter.name.toLowerCase()] = serialize(values[parameter.name]);
      }
      let body: string | undefined;
      if (plan.hasBody && 'body' in values && values.body !== undefined) {
        body = JSON.stringify(values.body);
        headers['content-type'] = 'application/json';
      }
      let secret: string | undefined;
      if (config.secret) {
        secret = await deps.secrets.get(config.secret.name);
        headers[config.secret.header.toLowerCase()] = config.secret.scheme ? `${config.secret.scheme} ${secret}` : secret;
      }
      const response = await callWithRetries(plan, config.retries, deps, url, { method: plan.method, headers, body }, context);
      const text = redact(await response.text(), secret);
      if (response.status < 200 || response.status > 299) {
        const excerpt = text.replace(/\s+/g, ' ').trim().slice(0, EXCERPT_CHARS);
        throw new HttpStatusError(`${plan.capability}: HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}`, response.status);
      }
      const type = response.headers.get('content-type') ?? '';
      return { status: response.status, body: /^application\/(?:[\w.+-]+\+)?json\b/i.test(type) ? parseJsonOrText(text) : text };
    },
  });
};

const callWithRetries = async (
  plan: OperationPlan,
  retries: number,
  deps: RunDeps,
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: string },
  context: AgentContext,
): Promise<Response> => {
  const retryable = IDEMPOTENT.has(plan.method) ? retries : 0;
  for (let attempt = 0; ; attempt += 1) {
    let response: Response | undefined;
    let failure: unknown;
    try {
      response = await deps.fetch(url.toString(), { ...init, signal: context.signal });
    } catch (error) {
      if (context.signal?.aborted || error instanceof OutboundRefusedError || error instanceof OutboundResponseTooLargeError) throw error;
      failure = error;
    }
    const transient = failure !== undefined || (response !== undefined && (response.status === 429 || response.status >= 500));
    if (!transient || attempt >= retryable) {
      if (response) return response;
      throw failure;
    }
    const delay = delayOf(attempt, response?.headers.get('retry-after') ?? null);
    if (delay === undefined && response) return response;
    deps.logger.warn('http connector retrying', {
      capability: plan.capability,
      taskId: context.taskId,
      attempt: attempt + 1,
      reason: response ? `HTTP ${response.status}` : messageOf(failure),
    });
    await response?.body?.cancel().catch(() => undefined);
    await sleep(delay ?? RETRY_MAX_MS, context.signal);
  }
};

/** Exponential backoff with equal jitter, or the server's Retry-After; undefined when that is too long to wait. */
const delayOf = (attempt: number, retryAfter: string | null): number | undefined => {
  if (retryAfter !== null) {
    const seconds = Number(retryAfter);
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now();
    if (Number.isFinite(ms)) return ms > RETRY_AFTER_MAX_MS ? undefined : Math.max(0, ms);
  }
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
};

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

const redact = (text: string, secret: string | undefined): string => (secret ? text.split(secret).join('[redacted]') : text);

const parseJsonOrText = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 200);
