import { ForbiddenError } from './errors';
import type { Principal } from './principal';
import type { Priority } from './task';

/**
 * Authorization as policy: which tools a principal may call, with which arguments. The one
 * definition of the rules is the Cedar policy set (lib/policies); this is the port the gateway
 * asks, the adapter (lambdas/adapters/cedar-access-policy.ts) evaluates it in-process.
 */

/** Priorities as the policies compare them: a number. */
export const PRIORITY_RANK: Readonly<Record<Priority, number>> = { low: 0, normal: 1, high: 2, critical: 3 };

/** The arguments of a call that matter to a decision (defaults applied); none for tools/list. */
export interface AccessArguments {
  capability?: string;
  workflow?: string;
  priority?: Priority;
  /** The role granted, revoked or listed. */
  role?: string;
  /** Redrive every tenant's dead letters, not only the caller's. */
  anyTenant?: boolean;
  /** The tenant acted upon when it is not the caller's (default: the caller's). */
  targetTenant?: string;
}

export interface AccessDecision {
  allowed: boolean;
  /** When denied: why, naming the tool, the arguments that matter and the roles (safe to show). */
  reason?: string;
  /** The permissions (policy ids) that decided: the permits of an allow, the forbids of a deny. */
  policies: readonly string[];
}

export interface AccessPolicy {
  decide(principal: Principal, tool: string, args?: AccessArguments): AccessDecision;
  /** The tools the principal may call at all (each decided with no arguments): what tools/list shows. */
  allowedTools(principal: Principal): ReadonlySet<string>;
}

const describeArguments = (args: AccessArguments): string => {
  const parts = [
    args.capability !== undefined ? `capability ${args.capability}` : undefined,
    args.workflow !== undefined ? `workflow ${args.workflow}` : undefined,
    args.priority !== undefined ? `priority ${args.priority}` : undefined,
    args.role !== undefined ? `role ${args.role}` : undefined,
    args.anyTenant ? 'every tenant' : undefined,
    args.targetTenant !== undefined ? `tenant ${args.targetTenant}` : undefined,
  ].filter((part): part is string => part !== undefined);
  return parts.length ? ` with ${parts.join(', ')}` : '';
};

/**
 * The message of a denial, e.g. `submit_task with priority critical is not permitted for roles
 * submitter (critical-priority-admin-only)`: the arguments are named when the tool alone would be
 * permitted, and the forbidding permission when one applied.
 */
export const denialReason = (principal: Principal, tool: string, args: AccessArguments, toolAllowed: boolean, forbiddenBy: readonly string[]): string =>
  `${tool}${toolAllowed ? describeArguments(args) : ''} is not permitted for roles ${principal.roles.join(', ') || '(none)'}` +
  (forbiddenBy.length ? ` (${forbiddenBy.join(', ')})` : '');

/** Decides a call and throws the typed error of a denial (mapped once to `FORBIDDEN: …`). */
export const authorizeTool = (access: AccessPolicy, principal: Principal, tool: string, args: AccessArguments = {}): AccessDecision => {
  const decision = access.decide(principal, tool, args);
  if (!decision.allowed) throw new ForbiddenError(decision.reason ?? `${tool} is not permitted`);
  return decision;
};
