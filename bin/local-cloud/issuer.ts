import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

/** The local issuer's identifier: tokens carry it as `iss`; the local authorizer expects it. */
export const LOCAL_ISSUER = 'https://issuer.switchboard.local/';
const ALG = 'ES256';

export interface IssuerKey {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

/**
 * The local issuer's ES256 signing key, kept in `<dataDir>/issuer/signing-key.jwk.json` (0600) so
 * the token CLI and `npm start` share it across restarts. Created on first use.
 */
export const ensureIssuerKey = async (dataDir: string): Promise<IssuerKey> => {
  const dir = join(dataDir, 'issuer');
  const file = join(dir, 'signing-key.jwk.json');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { privateKey } = await generateKeyPair(ALG, { extractable: true });
    const jwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(jwk);
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify({ ...jwk, kid, alg: ALG }), { mode: 0o600 });
    // Two processes racing here each write a whole key; the last rename wins and both re-read it.
    renameSync(temporary, file);
  }
  const privateJwk = JSON.parse(readFileSync(file, 'utf8')) as JWK & { kid: string };
  const { d: _private, ...publicJwk } = privateJwk;
  return { kid: privateJwk.kid, privateJwk, publicJwk: { ...publicJwk, use: 'sig' } };
};

export interface TokenRequest {
  tenant: string;
  roles: readonly string[];
  subject?: string;
  audience: string;
  tenantClaim: string;
  rolesClaim: string;
  ttlSeconds?: number;
}

/** Signs a bearer JWT as the local issuer. */
export const signLocalToken = async (key: IssuerKey, request: TokenRequest): Promise<string> => {
  const privateKey = await importJWK(key.privateJwk, ALG);
  return new SignJWT({ [request.tenantClaim]: request.tenant, [request.rolesClaim]: [...request.roles] })
    .setProtectedHeader({ alg: ALG, kid: key.kid, typ: 'JWT' })
    .setIssuer(LOCAL_ISSUER)
    .setAudience(request.audience)
    .setSubject(request.subject ?? `local-user@${request.tenant}`)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime(`${request.ttlSeconds ?? 3600}s`)
    .sign(privateKey);
};

/** The OpenID discovery document and JWKS the local cloud serves. */
export const discoveryDocument = (baseUrl: string) => ({
  issuer: LOCAL_ISSUER,
  jwks_uri: `${baseUrl}/.well-known/jwks.json`,
  id_token_signing_alg_values_supported: [ALG],
  response_types_supported: ['token'],
  subject_types_supported: ['public'],
});
