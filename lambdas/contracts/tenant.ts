import * as z from 'zod';

/** Tenant ids: what a token's tenant claim, table keys and session tags carry (no `#`, no `/`). */
export const TenantIdSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'tenant ids are lowercase letters, digits and dashes');

/**
 * The roles a token may carry: the principal's groups in the access policy (lib/policies, the one
 * definition of what each may do), the user pool's groups on AWS.
 */
export const ROLES = ['admin', 'operator', 'submitter', 'approver', 'auditor', 'viewer', 'agent'] as const;
export type Role = (typeof ROLES)[number];

/** The claims a Cognito access token carries the tenant and roles in (added by the pre-token trigger). */
export const COGNITO_TENANT_CLAIM = 'tenant_id';
export const COGNITO_ROLES_CLAIM = 'roles';
/** The user pool's custom attribute holding a user's tenant (`custom:tenant_id` in tokens and triggers). */
export const COGNITO_TENANT_ATTRIBUTE = 'tenant_id';
