import { createLocalJWKSet, exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTVerifyGetKey } from 'jose';
import { describe, expect, it } from 'vitest';
import { createJwtVerifier, InvalidTokenError } from '../../lambdas/adapters/jwt-verifier';
import { makeHandler } from '../../lambdas/authorizer/handler';
import { silentLogger } from '../../bin/harness/in-memory';
import { IssuerSchema, SHARED_USAGE_KEY, usageKeyOf, usageKeyOfTenant, type IssuerSettings, type ResolvedAuth } from '../../lambdas/contracts';
import type { Logger } from '../../lambdas/domain/ports';

const RESOURCE = 'https://abc123.execute-api.us-east-1.amazonaws.com/v1/mcp';
const METHOD_ARN = 'arn:aws:execute-api:us-east-1:111111111111:abc123/v1/POST/mcp';
/** An enterprise IdP: tokens for the resource (aud), tenant and roles in claims. */
const ENTERPRISE = IssuerSchema.parse({ issuer: 'https://idp.acme.test/', jwksUri: 'https://idp.acme.test/jwks' });
/** A Cognito user pool: access tokens without aud, the app client in client_id, a machine client mapped to its tenant. */
const COGNITO = IssuerSchema.parse({
  issuer: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool',
  jwksUri: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool/.well-known/jwks.json',
  audienceClaim: 'client_id',
  audiences: ['machine-client', 'people-client'],
  tenantClaim: 'custom:tenant_id',
  rolesClaim: 'cognito:groups',
  clients: { 'machine-client': { tenant: 'globex', roles: ['agent'] } },
});
/** An issuer whose scopes come as an array (`scp`) and whose tokens name another accepted audience. */
const ARRAY_SCOPES = IssuerSchema.parse({
  issuer: 'https://login.other.test/',
  jwksUri: 'https://login.other.test/keys',
  audiences: ['api://switchboard'],
  scopeClaim: 'scp',
});

type Alg = 'ES256' | 'RS256';
const keyPair = async (alg: Alg) => {
  const pair = await generateKeyPair(alg, { extractable: true });
  return { ...pair, jwks: createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg }] }) };
};

const setup = async (options: { usageKey?: (tenantId: string) => string; logger?: Logger } = {}) => {
  const keys = { [ENTERPRISE.issuer]: await keyPair('ES256'), [COGNITO.issuer]: await keyPair('RS256'), [ARRAY_SCOPES.issuer]: await keyPair('ES256') };
  const stranger = await keyPair('ES256');
  const fetchedJwks: string[] = [];
  const keysOf = (issuer: IssuerSettings): JWTVerifyGetKey => (fetchedJwks.push(issuer.issuer), keys[issuer.issuer]!.jwks);
  const auth: ResolvedAuth = { resource: RESOURCE, issuers: [ENTERPRISE, COGNITO, ARRAY_SCOPES] };
  const verify = createJwtVerifier(auth, keysOf);
  const sign = (
    claims: Record<string, unknown>,
    o: { issuer?: IssuerSettings; iss?: string; aud?: string | null; exp?: string; nbf?: string; iat?: string; key?: CryptoKey } = {},
  ) => {
    const issuer = o.issuer ?? ENTERPRISE;
    const alg: Alg = issuer === COGNITO ? 'RS256' : 'ES256';
    let jwt = new SignJWT(claims).setProtectedHeader({ alg, kid: 'k1' }).setIssuer(o.iss ?? issuer.issuer).setSubject('alice').setIssuedAt(o.iat ?? Math.floor(Date.now() / 1000)).setExpirationTime(o.exp ?? '1h');
    if (o.aud !== null && issuer.audienceClaim === 'aud') jwt = jwt.setAudience(o.aud ?? RESOURCE);
    if (o.nbf) jwt = jwt.setNotBefore(o.nbf);
    return jwt.sign(o.key ?? keys[issuer.issuer]!.privateKey);
  };
  const handler = makeHandler({ verify, logger: options.logger ?? silentLogger, ...(options.usageKey ? { usageKey: options.usageKey } : {}) });
  const authorize = (token: string) => handler({ type: 'TOKEN', authorizationToken: `Bearer ${token}`, methodArn: METHOD_ARN });
  return { sign, verify, authorize, handler, keys, stranger, fetchedJwks };
};
type Setup = Awaited<ReturnType<typeof setup>>;

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const payloadOf = (s: Setup) => ({ iss: ENTERPRISE.issuer, aud: RESOURCE, sub: 'alice', tenant_id: 'acme', roles: ['admin'], exp: Math.floor(Date.now() / 1000) + 3600 });

describe('JWT authorizer (OAuth resource server, several issuers)', () => {
  it('allows the whole stage and passes tenant, subject, known roles, scopes and client as context', async () => {
    const { sign, authorize } = await setup();
    const result = await authorize(
      await sign({ tenant_id: 'acme', roles: ['submitter', 'superuser'], scope: 'switchboard/tasks.read switchboard/tasks.write', client_id: 'inspector' }),
    );
    expect(result.principalId).toBe('acme/alice');
    expect(result.context).toEqual({
      tenantId: 'acme',
      subject: 'alice',
      roles: 'submitter',
      scopes: 'switchboard/tasks.read switchboard/tasks.write',
      clientId: 'inspector',
    });
    expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow', Resource: 'arn:aws:execute-api:us-east-1:111111111111:abc123/v1/*/*' });
  });

  it('accepts roles as a space-separated string claim, and a token without scope has none', async () => {
    const { sign, authorize } = await setup();
    const result = await authorize(await sign({ tenant_id: 'acme', roles: 'viewer admin' }));
    expect(result.context).toMatchObject({ roles: 'viewer,admin', scopes: '', clientId: '' });
  });

  it('reads scopes given as an array claim (scp) and accepts an issuer\'s own audience', async () => {
    const { sign, verify } = await setup();
    const token = await sign({ tenant_id: 'acme', scp: ['switchboard/audit', 'switchboard/admin'] }, { issuer: ARRAY_SCOPES, aud: 'api://switchboard' });
    expect((await verify(`Bearer ${token}`)).scopes).toEqual(['switchboard/audit', 'switchboard/admin']);
  });

  it('maps a client-credentials token (Cognito: no aud, no tenant claim) to its client\'s tenant and roles', async () => {
    const { sign, verify } = await setup();
    const token = await sign({ client_id: 'machine-client', token_use: 'access', scope: 'switchboard/agents', roles: ['admin'] }, { issuer: COGNITO });
    const verified = await verify(`Bearer ${token}`);
    expect(verified.principal).toEqual({ tenantId: 'globex', subject: 'alice', roles: ['agent'] });
    expect(verified).toMatchObject({ scopes: ['switchboard/agents'], clientId: 'machine-client' });
  });

  it('accepts a Cognito user\'s access token of an accepted app client, tenant and groups from its claims', async () => {
    const { sign, verify } = await setup();
    const token = await sign({ client_id: 'people-client', token_use: 'access', 'custom:tenant_id': 'acme', 'cognito:groups': ['approver'] }, { issuer: COGNITO });
    expect((await verify(`Bearer ${token}`)).principal).toEqual({ tenantId: 'acme', subject: 'alice', roles: ['approver'] });
  });

  it('fetches each issuer\'s JWKS once per container, whatever the number of tokens', async () => {
    const { sign, verify, fetchedJwks } = await setup();
    for (let i = 0; i < 3; i += 1) await verify(`Bearer ${await sign({ tenant_id: 'acme' })}`);
    await verify(`Bearer ${await sign({ client_id: 'machine-client' }, { issuer: COGNITO })}`);
    expect(fetchedJwks).toEqual([ENTERPRISE.issuer, COGNITO.issuer]);
  });

  const rejections: [string, (s: Setup) => Promise<string>][] = [
    ['expired (beyond the clock tolerance)', (s) => s.sign({ tenant_id: 'acme' }, { exp: '-5m' })],
    ['not yet valid', (s) => s.sign({ tenant_id: 'acme' }, { nbf: '10m' })],
    ['issued in the future', (s) => s.sign({ tenant_id: 'acme' }, { iat: '10m' })],
    ['from an untrusted issuer', (s) => s.sign({ tenant_id: 'acme' }, { iss: 'https://evil.test/' })],
    ['claiming a trusted issuer but signed by another trusted issuer\'s key', (s) => s.sign({ tenant_id: 'acme' }, { key: s.keys[ARRAY_SCOPES.issuer]!.privateKey })],
    ['for another audience', (s) => s.sign({ tenant_id: 'acme' }, { aud: 'https://other.example/mcp' })],
    ['without an audience', (s) => s.sign({ tenant_id: 'acme' }, { aud: null })],
    ['for another issuer\'s audience', (s) => s.sign({ tenant_id: 'acme' }, { aud: 'api://switchboard' })],
    ['of a Cognito app client not of this deployment', (s) => s.sign({ client_id: 'someone-else', 'custom:tenant_id': 'acme' }, { issuer: COGNITO })],
    ['that is a Cognito ID token', (s) => s.sign({ client_id: 'people-client', token_use: 'id', 'custom:tenant_id': 'acme' }, { issuer: COGNITO })],
    ['signed by an unknown key', (s) => s.sign({ tenant_id: 'acme' }, { key: s.stranger.privateKey })],
    ['with a tampered payload', async (s) => {
      const [header, , signature] = (await s.sign({ tenant_id: 'acme', roles: ['viewer'] })).split('.');
      return `${header}.${b64url({ ...payloadOf(s), roles: ['admin'] })}.${signature}`;
    }],
    ['with alg none', async (s) => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(payloadOf(s))}.`],
    ['signed HS256 with the issuer\'s public key as the secret', async (s) => {
      const secret = new TextEncoder().encode(await exportSPKI(s.keys[ENTERPRISE.issuer]!.publicKey));
      return new SignJWT(payloadOf(s)).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(secret);
    }],
    ['without a tenant (and no mapped client)', (s) => s.sign({ roles: ['admin'], client_id: 'unmapped' })],
    ['with a malformed tenant', (s) => s.sign({ tenant_id: 'ACME/../x' })],
    ['that is not a JWT at all', async () => 'not-a-jwt'],
  ];
  for (const [name, token] of rejections) {
    it(`answers Unauthorized (401) for a token ${name}`, async () => {
      const s = await setup();
      await expect(s.authorize(await token(s))).rejects.toThrow(/^Unauthorized$/);
    });
  }

  it('accepts a token expired within the clock tolerance (30 s)', async () => {
    const { sign, verify } = await setup();
    const token = await sign({ tenant_id: 'acme' }, { exp: '-10s' });
    await expect(verify(`Bearer ${token}`)).resolves.toMatchObject({ principal: { tenantId: 'acme' } });
  });

  it('answers Unauthorized when the header is not a bearer token', async () => {
    const { handler } = await setup();
    await expect(handler({ type: 'TOKEN', authorizationToken: 'Basic YWxhZGRpbjpvcGVuc2VzYW1l', methodArn: METHOD_ARN })).rejects.toThrow(/^Unauthorized$/);
  });

  it('logs why a token was refused, never the token itself', async () => {
    const lines: string[] = [];
    const capture = (message: string, data?: unknown) => void lines.push(`${message} ${JSON.stringify(data ?? {})}`);
    const logger = { debug: capture, info: capture, warn: capture, error: capture } as unknown as Logger;
    const s = await setup({ logger });
    const token = await s.sign({ tenant_id: 'acme' }, { exp: '-5m' });
    await expect(s.authorize(token)).rejects.toThrow(/^Unauthorized$/);
    expect(lines).toEqual([expect.stringContaining('ERR_JWT_EXPIRED')]);
    expect(lines.join('\n')).not.toContain(token.split('.')[2]);
    expect(lines.join('\n')).not.toContain(token.split('.')[1]);
  });

  it('rejects with InvalidTokenError naming the reason, for the authorizer to log', async () => {
    const s = await setup();
    await expect(s.verify(`Bearer ${await s.sign({ tenant_id: 'acme' }, { iss: 'https://evil.test/' })}`)).rejects.toEqual(new InvalidTokenError('untrusted issuer'));
  });

  it('names the tenant\'s usage-plan key (usageIdentifierKey): its own when listed in the quotas, else the shared one', async () => {
    const quotas = { defaultTier: 'standard', tiers: { standard: { submitsPerSecond: 1, burst: 1 } }, tenants: { acme: 'standard' } };
    const { sign, authorize } = await setup({ usageKey: (tenantId) => usageKeyOfTenant(quotas, 'seed-1', tenantId) });
    const acme = await authorize(await sign({ tenant_id: 'acme', roles: ['viewer'] }));
    const other = await authorize(await sign({ tenant_id: 'initech', roles: ['viewer'] }));
    expect(acme.usageIdentifierKey).toBe(usageKeyOf('seed-1', 'acme'));
    expect(other.usageIdentifierKey).toBe(usageKeyOf('seed-1', SHARED_USAGE_KEY));
    expect(acme.usageIdentifierKey).not.toBe(usageKeyOf('seed-2', 'acme'));
    expect(acme.usageIdentifierKey).toMatch(/^sb-[0-9a-f]{40}$/);
    // Without usage plans, no key at all.
    const plain = await setup();
    expect((await plain.authorize(await plain.sign({ tenant_id: 'acme', roles: ['viewer'] }))).usageIdentifierKey).toBeUndefined();
  });
});
