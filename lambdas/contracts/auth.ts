import * as z from 'zod';

/**
 * How bearer tokens are verified: the one definition cdk.json's `auth` is validated against, the
 * authorizer's environment is built from, and the authorizer reads back.
 */
export const AuthSettingsSchema = z
  .object({
    issuer: z.string().url(),
    audience: z.string().min(1),
    jwksUri: z.string().url(),
    tenantClaim: z.string().min(1).default('tenant_id'),
    rolesClaim: z.string().min(1).default('roles'),
  })
  .strict();
export type AuthSettings = z.infer<typeof AuthSettingsSchema>;

/** What the edge answers a request without a valid token, on AWS (gateway response) and locally alike. */
export const UNAUTHORIZED = {
  status: 401,
  code: -32001,
  message: 'Unauthorized: a valid bearer token is required',
  challenge: 'Bearer realm="switchboard"',
} as const;

/** What the edge answers a token that may not call the method. */
export const FORBIDDEN = { status: 403, code: -32003, message: 'Forbidden' } as const;

/** What the edge answers a request over its tenant's usage plan (HTTP 429). */
export const THROTTLED = { status: 429, code: -32029, message: 'Too many requests: your tenant is over its request rate; retry shortly' } as const;

/** The JSON-RPC body of those answers (no request id is known at the edge). */
export const edgeErrorBody = (error: { code: number; message: string }) =>
  JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: error.code, message: error.message } });
