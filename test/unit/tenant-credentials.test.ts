import type { AssumeRoleCommand, AssumeRoleCommandOutput } from '@aws-sdk/client-sts';
import { describe, expect, it } from 'vitest';
import { BoundedCache, TenantCredentialsCache } from '../../lambdas/adapters/tenant-credentials';

const ROLE = 'arn:aws:iam::123456789012:role/TenantScoped';

/** A fake STS: records each AssumeRole input, answers credentials valid for `validMs` from `now()`. */
const fakeSts = (now: () => number, validMs = 900_000) => {
  const calls: AssumeRoleCommand['input'][] = [];
  let failNext = false;
  return {
    calls,
    failOnce: () => (failNext = true),
    send: async (command: AssumeRoleCommand): Promise<AssumeRoleCommandOutput> => {
      calls.push(command.input);
      if (failNext) {
        failNext = false;
        throw new Error('throttled');
      }
      const n = calls.length;
      return {
        $metadata: {},
        Credentials: { AccessKeyId: `AKIA${n}`, SecretAccessKey: `secret${n}`, SessionToken: `token${n}`, Expiration: new Date(now() + validMs) },
      };
    },
  };
};

describe('TenantCredentialsCache', () => {
  it('assumes the tenant-scoped role with the tenant as the session tag', async () => {
    const sts = fakeSts(Date.now);
    const credentials = await new TenantCredentialsCache(sts, ROLE).credentialsFor('acme');
    expect(sts.calls).toEqual([
      { RoleArn: ROLE, RoleSessionName: 'switchboard-acme', DurationSeconds: 900, Tags: [{ Key: 'tenant', Value: 'acme' }] },
    ]);
    expect(credentials).toMatchObject({ accessKeyId: 'AKIA1', secretAccessKey: 'secret1', sessionToken: 'token1' });
  });

  it('keeps one session per tenant: concurrent and later calls of a tenant share it, another tenant gets its own', async () => {
    const sts = fakeSts(Date.now);
    const cache = new TenantCredentialsCache(sts, ROLE);
    const [a1, a2] = await Promise.all([cache.credentialsFor('acme'), cache.credentialsFor('acme')]);
    const a3 = await cache.credentialsFor('acme');
    const b = await cache.credentialsFor('globex');
    expect(sts.calls.map((c) => c.Tags?.[0]?.Value)).toEqual(['acme', 'globex']);
    expect(a2).toBe(a1);
    expect(a3).toBe(a1);
    expect(b.accessKeyId).not.toBe(a1.accessKeyId);
  });

  it('renews a session before it expires, not after', async () => {
    let clock = 1_000_000;
    const sts = fakeSts(() => clock);
    const cache = new TenantCredentialsCache(sts, ROLE, { now: () => clock, refreshBeforeMs: 120_000 });
    const first = await cache.credentialsFor('acme');
    clock += 900_000 - 120_001; // just outside the refresh window
    expect(await cache.credentialsFor('acme')).toBe(first);
    clock += 2; // inside it: still valid, but renewed now
    const second = await cache.credentialsFor('acme');
    expect(second.accessKeyId).toBe('AKIA2');
    expect(sts.calls).toHaveLength(2);
  });

  it('does not keep a failed AssumeRole: the next call tries again', async () => {
    const sts = fakeSts(Date.now);
    const cache = new TenantCredentialsCache(sts, ROLE);
    sts.failOnce();
    await expect(cache.credentialsFor('acme')).rejects.toThrow('throttled');
    await expect(cache.credentialsFor('acme')).resolves.toMatchObject({ accessKeyId: 'AKIA2' });
  });

  it('refuses a tenant id that is not one (never tags a session with it)', async () => {
    const sts = fakeSts(Date.now);
    await expect(new TenantCredentialsCache(sts, ROLE).credentialsFor('ACME#1')).rejects.toThrow();
    expect(sts.calls).toHaveLength(0);
  });

  it('keeps at most maxTenants sessions, dropping the least recently used', async () => {
    const sts = fakeSts(Date.now);
    const cache = new TenantCredentialsCache(sts, ROLE, { maxTenants: 2 });
    await cache.credentialsFor('a');
    await cache.credentialsFor('b');
    await cache.credentialsFor('a'); // a is now the most recent
    await cache.credentialsFor('c'); // drops b
    await cache.credentialsFor('a');
    await cache.credentialsFor('b');
    expect(sts.calls.map((c) => c.Tags?.[0]?.Value)).toEqual(['a', 'b', 'c', 'b']);
  });
});

describe('BoundedCache', () => {
  it('rejects a bound that is not a positive integer', () => {
    expect(() => new BoundedCache(0)).toThrow('positive integer');
  });
});
