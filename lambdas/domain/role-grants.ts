import { randomBytes } from 'node:crypto';
import * as z from 'zod';
import { ValidationError } from './errors';
import { RoleSchema, type Principal, type Role } from './principal';
import { TenantIdSchema } from './task';

/**
 * Time-limited elevation: an admin grants a role to a subject of its tenant until a time; the grant
 * adds the role to that subject's principal on every call while `now < until` and it is not revoked.
 * Grants are kept after they end (expired or revoked) so auditors see the history: DynamoDB's time
 * to live deletes one GRANT_HISTORY_DAYS after it ended.
 */

/** The furthest ahead a grant may end: elevation is for an incident or a task, not a standing role. */
export const GRANT_MAX_DAYS = 30;
/** How long an ended grant (expired or revoked) stays visible to auditors before it is deleted. */
export const GRANT_HISTORY_DAYS = 400;
/** Subjects longer than this (UTF-8 bytes) cannot be granted roles: the grant's key and id hold the subject. */
export const GRANT_SUBJECT_MAX = 256;
export const fitsGrantSubject = (subject: string): boolean => Buffer.byteLength(subject, 'utf8') <= GRANT_SUBJECT_MAX;

const DAY_MS = 86_400_000;

/**
 * Roles a grant may carry: any role. Which of them a given admin may grant is the access policy's
 * decision (lib/policies, context `role`: `operator` never), the one definition of that rule.
 */
export const GrantableRoleSchema = RoleSchema;
export type GrantableRole = z.infer<typeof GrantableRoleSchema>;

export const GrantSubjectSchema = z
  .string()
  .min(1)
  .regex(/^[^\s\u0000-\u001f]+$/, 'a token subject: no spaces or control characters')
  .refine(fitsGrantSubject, `at most ${GRANT_SUBJECT_MAX} bytes`);

/** `<subject, base64url>.<stamp><random>`: the grant's key follows from its id (contracts grantKeys). */
export const GrantIdSchema = z
  .string()
  .max(((GRANT_SUBJECT_MAX + 2) / 3) * 4 + 26)
  .regex(/^[A-Za-z0-9_-]+\.[0-9]{17}[a-z0-9]{8}$/, 'a grantId returned by grant_role or list_role_grants');

export const GRANT_STATUSES = ['active', 'expired', 'revoked'] as const;
export type GrantStatus = (typeof GRANT_STATUSES)[number];

export const RoleGrantSchema = z
  .object({
    tenantId: TenantIdSchema,
    grantId: GrantIdSchema,
    subject: GrantSubjectSchema,
    role: GrantableRoleSchema,
    /** ISO-8601, UTC (toISOString): the grant is active strictly before it. */
    until: z.string().datetime(),
    grantedBy: z.string().min(1),
    grantedAt: z.string().datetime(),
    reason: z.string().max(500).optional(),
    revokedAt: z.string().datetime().optional(),
    revokedBy: z.string().min(1).optional(),
  })
  .strict();
export type RoleGrant = z.infer<typeof RoleGrantSchema>;

/** What callers see of a grant: the record and its status now. */
export type RoleGrantView = Omit<RoleGrant, 'tenantId'> & { status: GrantStatus };

export const statusOf = (grant: RoleGrant, now: Date): GrantStatus =>
  grant.revokedAt !== undefined ? 'revoked' : now.getTime() < Date.parse(grant.until) ? 'active' : 'expired';

export const isActive = (grant: RoleGrant, now: Date): boolean => statusOf(grant, now) === 'active';

export const toGrantView = (grant: RoleGrant, now: Date): RoleGrantView => {
  const { tenantId: _tenant, ...rest } = grant;
  return { ...rest, status: statusOf(grant, now) };
};

/** When DynamoDB may delete the grant (epoch seconds): GRANT_HISTORY_DAYS after it ended. */
export const expiresAtOf = (grant: Pick<RoleGrant, 'until' | 'revokedAt'>): number =>
  Math.floor((Date.parse(grant.revokedAt ?? grant.until) + GRANT_HISTORY_DAYS * DAY_MS) / 1000);

/** A new grant id for `subject` at `now`: sorts by time within the subject's grants. */
export const newGrantId = (subject: string, now: Date): string =>
  `${Buffer.from(subject, 'utf8').toString('base64url')}.${now.toISOString().replace(/\D/g, '')}${randomBytes(5).toString('hex').slice(0, 8)}`;

/** The subject a grant id names, or undefined for an id that is not one. */
export const subjectOfGrantId = (grantId: string): string | undefined => {
  if (!GrantIdSchema.safeParse(grantId).success) return undefined;
  const subject = Buffer.from(grantId.slice(0, grantId.indexOf('.')), 'base64url').toString('utf8');
  return Buffer.from(subject, 'utf8').toString('base64url') === grantId.slice(0, grantId.indexOf('.')) ? subject : undefined;
};

export interface GrantRequest {
  subject: string;
  role: GrantableRole;
  /** Normalized to UTC ISO. */
  until: string;
  reason?: string;
}

/**
 * The rules of a grant, whoever may make it (the access policy decides who, and which role): a
 * subject of the granter's tenant other than the granter itself (no one elevates themselves), an
 * end in the future and at most GRANT_MAX_DAYS ahead.
 */
export const newRoleGrant = (granter: Principal, request: GrantRequest, now: Date): RoleGrant => {
  if (request.subject === granter.subject) throw new ValidationError('you cannot grant a role to yourself: ask another admin');
  const until = Date.parse(request.until);
  if (!Number.isFinite(until)) throw new ValidationError('until must be an ISO-8601 time');
  if (until <= now.getTime()) throw new ValidationError(`until must be in the future (now is ${now.toISOString()})`);
  if (until > now.getTime() + GRANT_MAX_DAYS * DAY_MS) {
    throw new ValidationError(`until must be at most ${GRANT_MAX_DAYS} days ahead (${new Date(now.getTime() + GRANT_MAX_DAYS * DAY_MS).toISOString()})`);
  }
  return {
    tenantId: granter.tenantId,
    grantId: newGrantId(request.subject, now),
    subject: request.subject,
    role: request.role,
    until: new Date(until).toISOString(),
    grantedBy: granter.subject,
    grantedAt: now.toISOString(),
    ...(request.reason !== undefined ? { reason: request.reason } : {}),
  };
};

/** The principal as it acts now: its token's roles and those of its active grants, each once. */
export const withGrantedRoles = (principal: Principal, granted: readonly Role[]): Principal => ({
  ...principal,
  roles: [...new Set([...principal.roles, ...granted])],
});
