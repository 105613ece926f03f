import * as z from 'zod';
import { TenantIdSchema } from './task';

/**
 * The roles a token may carry: the principal's groups in the access policy (lib/policies, the one
 * definition of what each may do). `admin`, `submitter`, `approver`, `auditor`, `viewer`, `agent`
 * act within their token's tenant; `operator` is the platform's on-call (redrives dead letters
 * across tenants): grant it only to the platform's own people.
 */
export { ROLES, type Role } from '../contracts/tenant';
import { ROLES } from '../contracts/tenant';
export const RoleSchema = z.enum(ROLES);

/** Who is calling: only ever built from a verified token, never from a request body. */
export const PrincipalSchema = z
  .object({
    tenantId: TenantIdSchema,
    subject: z.string().min(1),
    roles: z.array(RoleSchema),
  })
  .strict();
export type Principal = z.infer<typeof PrincipalSchema>;
