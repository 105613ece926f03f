import * as z from 'zod';
import { NotFoundError } from '../errors';
import type { Clock, RoleGrants } from '../ports';
import type { Principal } from '../principal';
import {
  GRANT_MAX_DAYS,
  fitsGrantSubject,
  GrantableRoleSchema,
  GrantIdSchema,
  GrantSubjectSchema,
  newRoleGrant,
  statusOf,
  subjectOfGrantId,
  toGrantView,
  withGrantedRoles,
  type RoleGrantView,
} from '../role-grants';

/**
 * Who may call these (admins grant and revoke, admins and auditors list) and which roles an admin
 * may grant is the access policy's decision, made before them (lib/policies, tools.ts `decided`).
 */
export type RoleGrantDeps = { roleGrants: RoleGrants; clock: Clock };

export const GrantRoleInputSchema = z
  .object({
    subject: GrantSubjectSchema.describe("The token subject (sub) of a principal of your tenant."),
    role: GrantableRoleSchema.describe('The role granted (which roles you may grant is the access policy\'s: never operator).'),
    until: z
      .string()
      .datetime({ offset: true })
      .describe(`ISO-8601 time the grant ends, in the future and at most ${GRANT_MAX_DAYS} days ahead.`),
    reason: z.string().min(1).max(500).optional().describe('Why: shown to auditors.'),
  })
  .strict();
export type GrantRoleInput = z.infer<typeof GrantRoleInputSchema>;

export const RevokeRoleInputSchema = z.object({ grantId: GrantIdSchema.describe('The grant to revoke.') }).strict();
export type RevokeRoleInput = z.infer<typeof RevokeRoleInputSchema>;

export const ListRoleGrantsInputSchema = z
  .object({
    subject: GrantSubjectSchema.optional().describe("Only this subject's grants."),
    limit: z.number().int().min(1).max(100).default(50).describe('Page size, 1 to 100; default 50.'),
    cursor: z.string().min(1).max(2048).optional().describe('nextCursor from the previous page.'),
  })
  .strict();
export type ListRoleGrantsInput = z.input<typeof ListRoleGrantsInputSchema>;

export const grantRole = async (deps: RoleGrantDeps, principal: Principal, input: GrantRoleInput): Promise<RoleGrantView> => {
  const request = GrantRoleInputSchema.parse(input);
  const now = deps.clock.now();
  const grant = newRoleGrant(principal, request, now);
  await deps.roleGrants.grant(grant);
  return toGrantView(grant, now);
};

export interface RevokeResult {
  grant: RoleGrantView;
  /** True when this call revoked it; false when it had already ended (revoked or expired). */
  revoked: boolean;
  message: string;
}

/** Idempotent: revoking a revoked grant says when and by whom; an expired one, that it had expired. */
export const revokeRole = async (deps: RoleGrantDeps, principal: Principal, input: RevokeRoleInput): Promise<RevokeResult> => {
  const { grantId } = RevokeRoleInputSchema.parse(input);
  const now = deps.clock.now();
  const outcome = subjectOfGrantId(grantId) === undefined ? undefined : await deps.roleGrants.revoke(principal.tenantId, grantId, principal.subject, now);
  if (!outcome) throw new NotFoundError(`grant ${grantId} not found in your tenant`);
  const { grant, revoked } = outcome;
  const message = revoked
    ? `revoked: ${grant.subject} no longer holds ${grant.role} by this grant`
    : statusOf(grant, now) === 'revoked'
      ? `already revoked at ${grant.revokedAt} by ${grant.revokedBy}; nothing changed`
      : `already expired at ${grant.until}; nothing to revoke`;
  return { grant: toGrantView(grant, now), revoked, message };
};

/** The tenant's grants of every status (history kept for auditors), one subject's or all, paged. */
export const listRoleGrants = async (
  deps: RoleGrantDeps,
  principal: Principal,
  input: ListRoleGrantsInput,
): Promise<{ grants: RoleGrantView[]; nextCursor?: string }> => {
  const query = ListRoleGrantsInputSchema.parse(input);
  const now = deps.clock.now();
  const page = await deps.roleGrants.list(principal.tenantId, {
    limit: query.limit,
    ...(query.subject !== undefined ? { subject: query.subject } : {}),
    ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
  });
  return { grants: page.grants.map((grant) => toGrantView(grant, now)), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
};

/**
 * The principal as it acts on this call: its token's roles and the roles of its grants active now.
 * Read on every call (one query), so a revoke or an expiry holds from the next call on.
 */
export const effectivePrincipal = async (deps: { roleGrants: RoleGrants }, principal: Principal, now: Date): Promise<Principal> => {
  if (!fitsGrantSubject(principal.subject)) return principal;
  const granted = await deps.roleGrants.active(principal.tenantId, principal.subject, now);
  return granted.length ? withGrantedRoles(principal, granted) : principal;
};
