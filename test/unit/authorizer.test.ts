import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { createJwtVerifier } from '../../lambdas/adapters/jwt-verifier';
import { makeHandler } from '../../lambdas/authorizer/handler';
import { silentLogger } from '../../bin/harness/in-memory';
import { SHARED_USAGE_KEY, usageKeyOf, usageKeyOfTenant } from '../../lambdas/contracts';

const config = {
  issuer: 'https://issuer.test/',
  audience: 'switchboard',
  jwksUri: 'https://issuer.test/jwks',
  tenantClaim: 'tenant_id',
  rolesClaim: 'roles',
};
const METHOD_ARN = 'arn:aws:execute-api:us-east-1:111111111111:abc123/v1/POST/mcp';

const setup = async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const stranger = await generateKeyPair('ES256');
  const jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] });
  const sign = (claims: Record<string, unknown>, options: { key?: CryptoKey; exp?: string; iss?: string; aud?: string } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(options.iss ?? config.issuer)
      .setAudience(options.aud ?? config.audience)
      .setSubject('alice')
      .setIssuedAt()
      .setExpirationTime(options.exp ?? '1h')
      .sign(options.key ?? privateKey);
  const handler = makeHandler({ verify: createJwtVerifier(config, jwks), logger: silentLogger });
  const authorize = (token: string) => handler({ type: 'TOKEN', authorizationToken: `Bearer ${token}`, methodArn: METHOD_ARN });
  return { sign, authorize, stranger, handler };
};

describe('JWT authorizer', () => {
  it('allows the whole stage and passes tenant, subject and known roles as context', async () => {
    const { sign, authorize } = await setup();
    const result = await authorize(await sign({ tenant_id: 'acme', roles: ['submitter', 'superuser'] }));
    expect(result.principalId).toBe('acme/alice');
    expect(result.context).toEqual({ tenantId: 'acme', subject: 'alice', roles: 'submitter' });
    expect(result.policyDocument.Statement[0]).toMatchObject({
      Effect: 'Allow',
      Resource: 'arn:aws:execute-api:us-east-1:111111111111:abc123/v1/*/*',
    });
  });

  it('accepts roles as a space-separated string claim', async () => {
    const { sign, authorize } = await setup();
    expect((await authorize(await sign({ tenant_id: 'acme', roles: 'viewer admin' }))).context?.['roles']).toBe('viewer,admin');
  });

  const rejections: [string, (s: Awaited<ReturnType<typeof setup>>) => Promise<string>][] = [
    ['expired', (s) => s.sign({ tenant_id: 'acme' }, { exp: '-5m' })],
    ['from another issuer', (s) => s.sign({ tenant_id: 'acme' }, { iss: 'https://evil.test/' })],
    ['for another audience', (s) => s.sign({ tenant_id: 'acme' }, { aud: 'other' })],
    ['signed by an unknown key', (s) => s.sign({ tenant_id: 'acme' }, { key: s.stranger.privateKey })],
    ['without a tenant', (s) => s.sign({ roles: ['admin'] })],
    ['with a malformed tenant', (s) => s.sign({ tenant_id: 'ACME/../x' })],
    ['not a JWT at all', async () => 'not-a-jwt'],
  ];
  for (const [name, token] of rejections) {
    it(`answers Unauthorized (401) for a token ${name}`, async () => {
      const s = await setup();
      await expect(s.authorize(await token(s))).rejects.toThrow(/^Unauthorized$/);
    });
  }

  it('answers Unauthorized when the header is not a bearer token', async () => {
    const { handler } = await setup();
    await expect(handler({ type: 'TOKEN', authorizationToken: 'Basic YWxhZGRpbjpvcGVuc2VzYW1l', methodArn: METHOD_ARN })).rejects.toThrow(
      /^Unauthorized$/,
    );
  });

  it('names the tenant\'s usage-plan key (usageIdentifierKey): its own when listed in the quotas, else the shared one', async () => {
    const { sign } = await setup();
    const quotas = { defaultTier: 'standard', tiers: { standard: { submitsPerSecond: 1, burst: 1 } }, tenants: { acme: 'standard' } };
    const { publicKey, privateKey: key } = await generateKeyPair('ES256');
    const jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] });
    const handler = makeHandler({
      verify: createJwtVerifier(config, jwks),
      logger: silentLogger,
      usageKey: (tenantId) => usageKeyOfTenant(quotas, 'seed-1', tenantId),
    });
    const tokenFor = async (tenant: string) => `Bearer ${await sign({ tenant_id: tenant, roles: ['viewer'] }, { key })}`;
    const acme = await handler({ type: 'TOKEN', authorizationToken: await tokenFor('acme'), methodArn: METHOD_ARN });
    const other = await handler({ type: 'TOKEN', authorizationToken: await tokenFor('initech'), methodArn: METHOD_ARN });
    expect(acme.usageIdentifierKey).toBe(usageKeyOf('seed-1', 'acme'));
    expect(other.usageIdentifierKey).toBe(usageKeyOf('seed-1', SHARED_USAGE_KEY));
    expect(acme.usageIdentifierKey).not.toBe(usageKeyOf('seed-2', 'acme'));
    expect(acme.usageIdentifierKey).toMatch(/^sb-[0-9a-f]{40}$/);
    // Without usage plans, no key at all.
    const { sign: sign2, authorize } = await setup();
    expect((await authorize(await sign2({ tenant_id: 'acme', roles: ['viewer'] }))).usageIdentifierKey).toBeUndefined();
  });
});
