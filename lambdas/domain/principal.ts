import * as z from 'zod';
import { ForbiddenError } from './errors';
import { TenantIdSchema } from './task';

export const ROLES = ['admin', 'submitter', 'viewer'] as const;
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
  read: ['admin', 'submitter', 'viewer'],
} as const satisfies Record<string, readonly Role[]>;
export type Action = keyof typeof ACTION_ROLES;

export const can = (principal: Principal, action: Action): boolean =>
  principal.roles.some((role) => (ACTION_ROLES[action] as readonly Role[]).includes(role));

export const authorize = (principal: Principal, action: Action): void => {
  if (!can(principal, action)) {
    throw new ForbiddenError(`role required for ${action}: one of ${ACTION_ROLES[action].join(', ')}`);
  }
};
