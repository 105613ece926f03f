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

const issuerKeyOf = (privateJwk: JWK & { kid: string }): IssuerKey => {
  const { d: _private, ...publicJwk } = privateJwk;
  return { kid: privateJwk.kid, privateJwk, publicJwk: { ...publicJwk, use: 'sig' } };
};

const generatePrivateJwk = async (): Promise<JWK & { kid: string }> => {
  const { privateKey } = await generateKeyPair(ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: ALG };
};

/** A fresh signing key that lives in this process only (`npm start -- --in-memory`). */
export const createIssuerKey = async (): Promise<IssuerKey> => issuerKeyOf(await generatePrivateJwk());

/**
 * The local issuer's ES256 signing key, kept in `<dataDir>/issuer/signing-key.jwk.json` (0600) so
 * the token CLI and `npm start` share it across restarts. Created on first use.
 */
export const ensureIssuerKey = async (dataDir: string): Promise<IssuerKey> => {
  const dir = join(dataDir, 'issuer');
  const file = join(dir, 'signing-key.jwk.json');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(await generatePrivateJwk()), { mode: 0o600 });
    // Two processes racing here each write a whole key; the last rename wins and both re-read it.
    renameSync(temporary, file);
  }
  return issuerKeyOf(JSON.parse(readFileSync(file, 'utf8')) as JWK & { kid: string });
};

/** Tokens last this long unless asked otherwise (`npm run token -- --ttl SECONDS`). */
export const DEFAULT_TOKEN_TTL_SECONDS = 3600;

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
    .setExpirationTime(`${request.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS}s`)
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
