import type { PrincipalLimit, PrincipalLimits } from '../contracts/auth';
import { RateLimitedError } from './errors';
import type { PrincipalLimiter } from './ports';
import type { Principal } from './principal';
import type { RateLimits } from './rate-limit';

/**
 * What one principal may do at once (config `auth.limits`): each role's limit, or the default for
 * a role without one; the most generous of the principal's roles applies, field by field. A
 * principal without roles gets the default.
 */
export const limitOf = (principal: Pick<Principal, 'roles'>, limits: PrincipalLimits): PrincipalLimit => {
  const candidates = principal.roles.length ? principal.roles.map((role) => limits.byRole[role] ?? limits.default) : [limits.default];
  return {
    toolCallsPerMinute: Math.max(...candidates.map((limit) => limit.toolCallsPerMinute)),
    maxRequestBytes: Math.max(...candidates.map((limit) => limit.maxRequestBytes)),
  };
};

/**
 * The token bucket of N tool calls per minute: N at once after an idle minute, then one every
 * 60/N s; over any span of E seconds at most N + N × E / 60.
 */
export const toolCallRate = (limit: Pick<PrincipalLimit, 'toolCallsPerMinute'>): RateLimits => ({
  ratePerSecond: limit.toolCallsPerMinute / 60,
  burst: limit.toolCallsPerMinute,
});

/** The message of a body over the principal's limit (HTTP 413 at the endpoint). */
export const requestTooLargeMessage = (limit: Pick<PrincipalLimit, 'maxRequestBytes'>): string =>
  `Request body too large: your requests may carry at most ${limit.maxRequestBytes} bytes`;

/** Takes one tool call from the principal's bucket, or throws RATE_LIMITED with when to retry. */
export const admitToolCall = async (deps: { limiter: PrincipalLimiter }, principal: Principal, now: Date): Promise<void> => {
  const decision = await deps.limiter.admit(principal, now);
  if (!decision.admitted) throw new RateLimitedError(decision.retryAfterSeconds, decision.toolCallsPerMinute);
};
