import * as z from 'zod';
import { ForbiddenError } from './errors';
import { TenantIdSchema } from './task';

/**
 * `admin`, `submitter`, `approver`, `viewer`, `agent` act within their token's tenant; `approver` decides
 * the approval gates of workflow runs (and reads); `agent` is an external agent that pulls the tenant's
 * tasks of pull capabilities (claim, heartbeat, complete, fail) and may do nothing else. `operator` is the platform's
 * on-call: it redrives dead letters across tenants (a priority's dead-letter queue is shared by
 * every tenant) and may do nothing else; grant it only to the platform's own people.
 */
export const ROLES = ['admin', 'operator', 'submitter', 'approver', 'viewer', 'agent'] as const;
export const RoleSchema = z.enum(ROLES);
export type Role = z.infer<typeof RoleSchema>;

/** Who is calling: only ever built from a verified token, never from a request body. */
export const PrincipalSchema = z
  .object({
    tenantId: TenantIdSchema,
    subject: z.string().min(1),
    roles: z.array(RoleSchema),
  })
  .strict();
export type Principal = z.infer<typeof PrincipalSchema>;

/** Which roles may use each action. */
export const ACTION_ROLES = {
  submit: ['admin', 'submitter'],
  cancel: ['admin', 'submitter'],
  read: ['admin', 'submitter', 'approver', 'viewer'],
  /** Decide a workflow run's approval gate (which roles a gate accepts is the workflow's; never the submitter alone). */
  approve: ['admin', 'approver'],
  /** Send dead-lettered tasks back to their queue: an admin its own tenant's. */
  redrive: ['admin', 'operator'],
  /** Redrive every tenant's dead-lettered tasks, not only the token's tenant's. */
  redriveAnyTenant: ['operator'],
  /** Claim the tenant's tasks of pull capabilities and report their outcome (external agents). */
  pull: ['agent'],
} as const satisfies Record<string, readonly Role[]>;
export type Action = keyof typeof ACTION_ROLES;

export const can = (principal: Principal, action: Action): boolean =>
  principal.roles.some((role) => (ACTION_ROLES[action] as readonly Role[]).includes(role));

export const authorize = (principal: Principal, action: Action): void => {
  if (!can(principal, action)) {
    throw new ForbiddenError(`role required for ${action}: one of ${ACTION_ROLES[action].join(', ')}`);
  }
};
