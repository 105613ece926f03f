import * as z from 'zod';

/**
 * An HTTP API offered to tasks as agents, one per allow-listed OpenAPI operation: the CDK config
 * names it, the worker builds the agents from it (lambdas/agents/http-connector.ts). Secrets are
 * named here, never given: the value is read from the secret store at the moment of the call.
 */

/** A host name or IP literal, no scheme, port or path (`api.example.com`, `10.0.0.5`, `[fd00::1]`). */
const HostSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)$/, 'a host name without scheme, port or path');

/** An HTTP header name (RFC 9110 token). */
const HeaderNameSchema = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/, 'an HTTP header name');

export const OpenApiDocumentSchema = z
  .record(z.string(), z.unknown())
  .refine((doc) => typeof doc.openapi === 'string' && doc.openapi.startsWith('3.'), 'an OpenAPI 3 document (openapi: "3.x")')
  .refine((doc) => typeof doc.paths === 'object' && doc.paths !== null, 'an OpenAPI document with paths');

/** A path inside the project: relative, no `..`. */
const ProjectPathSchema = z
  .string()
  .min(1)
  .refine((path) => !path.startsWith('/') && !/^[A-Za-z]:/.test(path), 'a path relative to the project')
  .refine((path) => !path.split(/[\\/]/).includes('..'), 'a path inside the project (no "..")');

export const ConnectorSecretSchema = z
  .object({
    /** The secret's name in the secret store. */
    name: z.string().min(1).max(512),
    /** The header that carries it. */
    header: HeaderNameSchema.default('authorization'),
    /** Written before the value with one space (`Bearer`); absent: the value alone. */
    scheme: z.string().regex(/^[A-Za-z][A-Za-z0-9._-]{0,31}$/, 'an auth scheme such as Bearer').optional(),
  })
  .strict();

export const HttpConnectorConfigSchema = z
  .object({
    /** The capability namespace: agents are `<name>.<operationId>`. */
    name: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'lower-case letters, digits, _ or -, starting with a letter, at most 32'),
    /** The OpenAPI 3 document inline, or the path of its JSON file relative to the project. */
    openapi: z.union([OpenApiDocumentSchema, ProjectPathSchema]),
    /** Where the operations' paths are appended (the document's `servers` are ignored). */
    baseUrl: z
      .url({ protocol: /^https?$/ })
      .refine((url) => {
        const parsed = new URL(url);
        return !parsed.username && !parsed.password && !parsed.search && !parsed.hash;
      }, 'a base URL without credentials, query or fragment'),
    /** The operationIds offered as agents; every other operation is not. */
    operations: z
      .array(z.string().min(1).max(128))
      .min(1)
      .refine((ids) => new Set(ids).size === ids.length, 'operationIds listed once'),
    /** Hosts the agents may call, redirects included. Default: the baseUrl's host. */
    allowHosts: z.array(HostSchema).min(1).optional(),
    /** Hosts that may resolve to private, loopback or link-local addresses (on-prem systems). */
    allowPrivateHosts: z.array(HostSchema).optional(),
    /** Hosts that may be called over plain http. */
    allowHttpHosts: z.array(HostSchema).optional(),
    secret: ConnectorSecretSchema.optional(),
    /** One HTTP call, redirects and body included. */
    timeoutMs: z.number().int().min(1).max(120_000).default(10_000),
    maxResponseBytes: z
      .number()
      .int()
      .min(1)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024),
    /** Further attempts of an idempotent call after a network error, 429 or 5xx. */
    retries: z.number().int().min(0).max(5).default(2),
  })
  .strict()
  .superRefine((config, ctx) => {
    const lower = (host: string) => host.toLowerCase();
    const baseHost = lower(new URL(config.baseUrl).hostname);
    const allowed = new Set((config.allowHosts ?? [baseHost]).map(lower));
    if (!allowed.has(baseHost)) ctx.addIssue({ code: 'custom', path: ['allowHosts'], message: `allowHosts must include the baseUrl's host ${baseHost}` });
    for (const key of ['allowPrivateHosts', 'allowHttpHosts'] as const) {
      (config[key] ?? []).forEach((host, index) => {
        if (!allowed.has(lower(host))) ctx.addIssue({ code: 'custom', path: [key, index], message: `${host} is not in allowHosts` });
      });
    }
    if (new URL(config.baseUrl).protocol === 'http:' && !(config.allowHttpHosts ?? []).map(lower).includes(baseHost)) {
      ctx.addIssue({ code: 'custom', path: ['baseUrl'], message: `http baseUrl needs ${baseHost} in allowHttpHosts` });
    }
  });

export type HttpConnectorConfig = z.output<typeof HttpConnectorConfigSchema>;
/** The config as written (defaults not yet applied). */
export type HttpConnectorConfigInput = z.input<typeof HttpConnectorConfigSchema>;
