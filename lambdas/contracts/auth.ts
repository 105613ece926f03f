import * as z from 'zod';
import { TenantIdSchema } from './tenant';

/**
 * Identity and access: the one definition cdk.json's `auth` is validated against, the authorizer's
 * environment is built from, and the authorizer, the gateway and the local identity provider read.
 */

/**
 * The OAuth resource server's identifier at the identity provider (Cognito resource server id),
 * and so the prefix of every scope: scopes are `switchboard/<family>`.
 */
export const RESOURCE_SERVER_ID = 'switchboard';

/** One scope per tool family: what a token must carry to call the family's tools (else 403 insufficient_scope). */
export const SCOPE_FAMILIES = {
  'tasks.read': 'Read tasks, runs and agents of your tenant',
  'tasks.write': 'Submit and cancel tasks, start workflow runs',
  approvals: 'Approve or reject workflow approval gates',
  agents: 'Act as an external agent: claim tasks of pull capabilities and report their outcome',
  admin: 'Administer the tenant or platform: redrive dead letters, register agents, grant roles',
  audit: 'Read the audit trail and role grants',
} as const;
export type ScopeFamily = keyof typeof SCOPE_FAMILIES;
export const scopeOf = (family: ScopeFamily): string => `${RESOURCE_SERVER_ID}/${family}`;
/** Every scope this resource server defines (PRM `scopes_supported`, Cognito resource server scopes). */
export const ALL_SCOPES: readonly string[] = (Object.keys(SCOPE_FAMILIES) as ScopeFamily[]).map(scopeOf);

/**
 * The scope family of each tool. A tool not listed here cannot be called by any token (a new tool
 * must be given its family: test/unit checks every registered tool is listed).
 */
export const TOOL_SCOPES: Readonly<Record<string, ScopeFamily>> = {
  get_task: 'tasks.read',
  list_tasks: 'tasks.read',
  list_agents: 'tasks.read',
  submit_task: 'tasks.write',
  cancel_task: 'tasks.write',
  start_workflow: 'tasks.write',
  approve_task: 'approvals',
  reject_task: 'approvals',
  claim_task: 'agents',
  heartbeat_task: 'agents',
  complete_task: 'agents',
  fail_task: 'agents',
  redrive_dead_letters: 'admin',
  register_agent: 'admin',
  deregister_agent: 'admin',
  grant_role: 'admin',
  revoke_role: 'admin',
  list_role_grants: 'audit',
  verify_audit: 'audit',
  query_audit: 'audit',
};

const Claim = z.string().min(1).max(128);

/** A machine client of an issuer whose tokens carry no tenant claim (Cognito client credentials): its tenant and roles. */
export const MachineClientSchema = z.object({ tenant: TenantIdSchema, roles: z.array(z.string().min(1)).max(16) }).strict();
export type MachineClient = z.infer<typeof MachineClientSchema>;

/**
 * An issuer whose access tokens the endpoint accepts. Its tokens must be signed (RS256/ES256) by a
 * key of `jwksUri`, unexpired, and meant for this resource: `aud` holds one of `audiences` (default:
 * the resource, RFC 8707) — or, for issuers whose access tokens carry no `aud` (Cognito),
 * `audienceClaim: client_id` and `audiences` the issuer's app clients of this deployment.
 */
export const IssuerSchema = z
  .object({
    issuer: z.string().url(),
    jwksUri: z.string().url(),
    audienceClaim: z.enum(['aud', 'client_id']).default('aud'),
    /** Accepted values of the audience claim; default: the resource alone. Required with client_id. */
    audiences: z.array(z.string().min(1)).min(1).max(50).optional(),
    tenantClaim: Claim.default('tenant_id'),
    rolesClaim: Claim.default('roles'),
    /** Space-separated string (`scope`, RFC 9068) or array (`scp`). */
    scopeClaim: Claim.default('scope'),
    /** client_id → tenant and roles, for tokens without a tenant claim (client credentials). */
    clients: z.record(z.string().min(1).max(128), MachineClientSchema).optional(),
  })
  .strict()
  .refine((issuer) => issuer.audienceClaim === 'aud' || issuer.audiences !== undefined, {
    message: 'audiences is required when audienceClaim is client_id (the app clients whose tokens are accepted)',
    path: ['audiences'],
  });
export type IssuerSettings = z.infer<typeof IssuerSchema>;

/** A machine agent's Cognito app client (client-credentials flow): created by the stack, bound to one tenant. */
const CognitoMachineClientSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,62}$/, 'letters, digits and -, starting with a letter'),
    tenant: TenantIdSchema,
    roles: z.array(z.string().min(1)).min(1).max(16),
    /** Scope families the client may ask for; default: every family. */
    scopes: z.array(z.enum(Object.keys(SCOPE_FAMILIES) as [ScopeFamily, ...ScopeFamily[]])).min(1).optional(),
  })
  .strict();

const FederationSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('oidc'),
      name: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
      issuer: z.string().url(),
      clientId: z.string().min(1),
      /** The Secrets Manager secret holding the client secret (never in cdk.json). */
      clientSecretName: z.string().min(1),
      /** The IdP's claim holding the user's tenant (mapped to custom:tenant_id). */
      tenantClaim: Claim.default('tenant_id'),
    })
    .strict(),
  z
    .object({
      type: z.literal('saml'),
      name: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
      metadataUrl: z.string().url(),
      /** The SAML attribute holding the user's tenant (mapped to custom:tenant_id). */
      tenantAttribute: z.string().min(1).default('tenant_id'),
    })
    .strict(),
]);

/**
 * A Cognito user pool as the identity provider: a resource server with one scope per tool family,
 * an app client per machine agent (client credentials), a public client for people (authorization
 * code + PKCE) on the hosted login, optionally federated to an enterprise IdP.
 */
export const CognitoSettingsSchema = z
  .object({
    /** The hosted domain's prefix (`<prefix>.auth.<region>.amazoncognito.com`), unique in the region. */
    domainPrefix: z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'lower-case letters, digits and -'),
    machineClients: z.array(CognitoMachineClientSchema).max(50).default([]),
    /** Redirect URIs of the public client (MCP clients' OAuth callbacks). */
    callbackUrls: z.array(z.string().url()).max(20).default(['http://localhost:6274/oauth/callback']),
    federation: FederationSchema.optional(),
  })
  .strict();
export type CognitoSettings = z.infer<typeof CognitoSettingsSchema>;

/** What one token may do at once, by role (the most generous of the principal's roles applies). */
export const PrincipalLimitSchema = z
  .object({
    /** Tool calls per minute per principal (subject within tenant), across every gateway instance. */
    toolCallsPerMinute: z.number().int().min(1).max(100_000),
    /** Largest request body a principal may send, in bytes (at most api.maxRequestBodyBytes). */
    maxRequestBytes: z.number().int().min(1024).max(6 * 1024 * 1024),
  })
  .strict();
export type PrincipalLimit = z.infer<typeof PrincipalLimitSchema>;
export const PrincipalLimitsSchema = z
  .object({
    default: PrincipalLimitSchema,
    byRole: z.record(z.string().min(1), PrincipalLimitSchema).default({}),
  })
  .strict();
export type PrincipalLimits = z.infer<typeof PrincipalLimitsSchema>;
export const DEFAULT_PRINCIPAL_LIMITS: PrincipalLimits = {
  default: { toolCallsPerMinute: 600, maxRequestBytes: 262_144 },
  byRole: {},
};

export const AuthSettingsSchema = z
  .object({
    /**
     * The canonical URI of the MCP endpoint (RFC 8707 resource, PRM `resource`, the tokens'
     * audience). Default: the API's own `/mcp` URL (set it when a custom domain fronts the API).
     */
    resource: z.string().url().optional(),
    /** External issuers trusted besides (or instead of) the Cognito user pool. */
    issuers: z.array(IssuerSchema).max(5).default([]),
    cognito: CognitoSettingsSchema.optional(),
    limits: PrincipalLimitsSchema.default(DEFAULT_PRINCIPAL_LIMITS),
  })
  .strict()
  .refine((auth) => auth.issuers.length > 0 || auth.cognito !== undefined, {
    message: 'trust at least one issuer: issuers, cognito, or both',
    path: ['issuers'],
  });
export type AuthSettings = z.infer<typeof AuthSettingsSchema>;

/** The authorizer's view: the resource and every trusted issuer (Cognito's included), audiences resolved. */
export interface ResolvedAuth {
  resource: string;
  issuers: IssuerSettings[];
}

/** The Protected Resource Metadata path (RFC 9728) and its path-suffixed form for the MCP path. */
export const PRM_PATH = '/.well-known/oauth-protected-resource';

/** The MCP endpoint's path, with which every resource URI ends. */
export const MCP_RESOURCE_SUFFIX = '/mcp';

/**
 * The URL of the resource's Protected Resource Metadata: PRM_PATH inserted before the final
 * `/mcp` (RFC 9728 §3.1's path-suffixed form, after any stage prefix: on API Gateway's default
 * URL `https://{api}.execute-api.{region}.amazonaws.com/v1/mcp` it is
 * `…/v1/.well-known/oauth-protected-resource/mcp`). String-only, so it works on deploy-time tokens.
 */
export const resourceMetadataUrlOf = (resource: string): string => {
  if (!resource.endsWith(MCP_RESOURCE_SUFFIX)) throw new Error(`auth.resource must end with ${MCP_RESOURCE_SUFFIX} (the MCP endpoint's path): ${resource}`);
  return `${resource.slice(0, -MCP_RESOURCE_SUFFIX.length)}${PRM_PATH}${MCP_RESOURCE_SUFFIX}`;
};

/** What the endpoint answers a request without a valid token (gateway response on AWS, and locally). */
export const UNAUTHORIZED = {
  status: 401,
  code: -32001,
  message: 'Unauthorized: a valid bearer token is required',
} as const;

/** The challenge of a 401: where the client finds how to get a token (RFC 9728 §5.1). */
export const bearerChallenge = (resourceMetadataUrl: string) => `Bearer resource_metadata="${resourceMetadataUrl}"`;

/** The challenge of a 403 for a token without the scope of the tool it calls (RFC 6750 §3.1). */
export const insufficientScopeChallenge = (scope: string, resourceMetadataUrl: string) =>
  `Bearer error="insufficient_scope", scope="${scope}", resource_metadata="${resourceMetadataUrl}", error_description="the token lacks scope ${scope}"`;

/** What the edge answers a token that may not call the method. */
export const FORBIDDEN = { status: 403, code: -32003, message: 'Forbidden' } as const;

/** What the edge answers a request over its tenant's usage plan (HTTP 429). */
export const THROTTLED = { status: 429, code: -32029, message: 'Too many requests: your tenant is over its request rate; retry shortly' } as const;

/** The JSON-RPC body of those answers (no request id is known at the edge). */
export const edgeErrorBody = (error: { code: number; message: string }) =>
  JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: error.code, message: error.message } });
