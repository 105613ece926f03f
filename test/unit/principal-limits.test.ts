import { describe, expect, it } from 'vitest';
import { AuthSettingsSchema, quotaKeys, type PrincipalLimits } from '../../lambdas/contracts';
import { RateLimitedError } from '../../lambdas/domain/errors';
import type { Principal } from '../../lambdas/domain/principal';
import { admitToolCall, limitOf, requestTooLargeMessage, toolCallRate } from '../../lambdas/domain/principal-limits';
import { InMemoryPrincipalLimiter } from '../../bin/harness/in-memory';

const LIMITS: PrincipalLimits = {
  default: { toolCallsPerMinute: 60, maxRequestBytes: 65_536 },
  byRole: {
    agent: { toolCallsPerMinute: 1200, maxRequestBytes: 32_768 },
    admin: { toolCallsPerMinute: 300, maxRequestBytes: 1_048_576 },
    viewer: { toolCallsPerMinute: 30, maxRequestBytes: 4096 },
  },
};
const who = (roles: string[], subject = 'bob'): Principal => ({ tenantId: 'acme', subject, roles: roles as Principal['roles'] });

describe('limitOf: the most generous of the principal\'s roles, field by field', () => {
  it.each([
    ['a role with its own limit', ['admin'], { toolCallsPerMinute: 300, maxRequestBytes: 1_048_576 }],
    ['a role without one: the default', ['submitter'], { toolCallsPerMinute: 60, maxRequestBytes: 65_536 }],
    ['a role stricter than the default, alone', ['viewer'], { toolCallsPerMinute: 30, maxRequestBytes: 4096 }],
    ['a strict role and one without a limit: the default wins', ['viewer', 'submitter'], { toolCallsPerMinute: 60, maxRequestBytes: 65_536 }],
    ['each field from a different role', ['agent', 'admin'], { toolCallsPerMinute: 1200, maxRequestBytes: 1_048_576 }],
    ['no roles: the default', [], { toolCallsPerMinute: 60, maxRequestBytes: 65_536 }],
  ])('%s', (_, roles, expected) => {
    expect(limitOf(who(roles), LIMITS)).toEqual(expected);
  });

  it('cdk.json-shaped settings without limits get the contract default', () => {
    const auth = AuthSettingsSchema.parse({ issuers: [{ issuer: 'https://issuer.example/', jwksUri: 'https://issuer.example/jwks' }] });
    expect(limitOf(who(['admin']), auth.limits)).toEqual(auth.limits.default);
  });

  it('says the limit in the 413 message', () => {
    expect(requestTooLargeMessage({ maxRequestBytes: 4096 })).toBe('Request body too large: your requests may carry at most 4096 bytes');
  });
});

describe('tool calls per minute (in-memory limiter, the rules the DynamoDB one shares)', () => {
  it('admits N at once, refuses the next with RATE_LIMITED and when to retry, then one every 60/N s', async () => {
    const limiter = new InMemoryPrincipalLimiter(LIMITS);
    const bob = who(['submitter']);
    const now = new Date('2026-11-26T10:00:00Z');
    for (let i = 0; i < 60; i++) await admitToolCall({ limiter }, bob, now);
    const refusal = admitToolCall({ limiter }, bob, now);
    await expect(refusal).rejects.toBeInstanceOf(RateLimitedError);
    await expect(refusal).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      retryAfterSeconds: 1,
      message: 'you are over 60 tool calls per minute; retry after 1 s',
    });
    await expect(admitToolCall({ limiter }, bob, new Date(now.getTime() + 999))).rejects.toBeInstanceOf(RateLimitedError);
    await expect(admitToolCall({ limiter }, bob, new Date(now.getTime() + 1000))).resolves.toBeUndefined();
  });

  it('keeps one bucket per subject of a tenant, at the rate of its roles', async () => {
    const limiter = new InMemoryPrincipalLimiter(LIMITS);
    const now = new Date('2026-11-26T10:00:00Z');
    for (let i = 0; i < 30; i++) await admitToolCall({ limiter }, who(['viewer']), now);
    await expect(admitToolCall({ limiter }, who(['viewer']), now)).rejects.toMatchObject({ toolCallsPerMinute: 30, retryAfterSeconds: 2 });
    await expect(admitToolCall({ limiter }, who(['viewer'], 'carol'), now)).resolves.toBeUndefined();
    await expect(admitToolCall({ limiter }, { ...who(['viewer']), tenantId: 'globex' }, now)).resolves.toBeUndefined();
  });

  it('a bucket of N per minute is N at once and N/60 per second', () => {
    expect(toolCallRate({ toolCallsPerMinute: 600 })).toEqual({ ratePerSecond: 10, burst: 600 });
  });

  it('a principal\'s bucket key holds any subject without ambiguity', () => {
    expect(quotaKeys.principal('a#b')).not.toBe(quotaKeys.principal('a'));
    expect(quotaKeys.principal('user@acme')).toMatch(/^PRINCIPAL#[A-Za-z0-9_-]+$/);
  });
});
