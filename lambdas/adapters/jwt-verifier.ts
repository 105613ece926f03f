import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import * as z from 'zod';
import type { IssuerSettings, ResolvedAuth } from '../contracts';
import { PrincipalSchema, RoleSchema, type Principal } from '../domain/principal';

/** The token is missing, malformed, expired, from an untrusted issuer, for another audience, or lacks a tenant. */
export class InvalidTokenError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'InvalidTokenError';
  }
}

/** What a verified access token says: who calls, what it may ask for, and through which client. */
export interface VerifiedToken {
  principal: Principal;
  /** The token's scopes (RFC 9068 `scope`, or an array claim such as `scp`). */
  scopes: string[];
  /** The OAuth client the token was issued to (`client_id`, else `azp`), when the token says. */
  clientId?: string;
  expiresAt: number;
}

/** RS256/ES256 only: `none` and HMAC (whose "key" would be the issuer's public key) are refused. */
const ALGORITHMS = ['RS256', 'ES256'];
/** Seconds of clock skew allowed on exp, nbf and iat. */
const CLOCK_TOLERANCE = 30;

const StringListClaimSchema = z.union([
  z.array(z.string()),
  z.string().transform((s) => s.split(/[\s,]+/).filter(Boolean)),
]);
const ScopeClaimSchema = z.union([z.array(z.string()), z.string().transform((s) => s.split(' ').filter(Boolean))]);

const stringClaim = (payload: JWTPayload, name: string): string | undefined =>
  typeof payload[name] === 'string' ? (payload[name] as string) : undefined;

/** One JWKS per issuer, fetched when first needed and cached for the container's life (jose refreshes on unknown kid). */
const remoteKeys = (issuer: IssuerSettings): JWTVerifyGetKey => createRemoteJWKSet(new URL(issuer.jwksUri), { cacheMaxAge: 10 * 60_000 });

/**
 * Verifies bearer access tokens from several trusted issuers: the issuer is picked by the token's
 * `iss`, its signature checked against that issuer's JWKS, its audience against the resource (or
 * the issuer's app clients, for issuers whose access tokens carry `client_id` instead of `aud`).
 * The token itself is never logged, kept or returned.
 */
export const createJwtVerifier = (auth: ResolvedAuth, keysOf: (issuer: IssuerSettings) => JWTVerifyGetKey = remoteKeys) => {
  const issuers = new Map(auth.issuers.map((issuer) => [issuer.issuer, issuer]));
  const keys = new Map<string, JWTVerifyGetKey>();
  const keysFor = (issuer: IssuerSettings): JWTVerifyGetKey => {
    let found = keys.get(issuer.issuer);
    if (!found) keys.set(issuer.issuer, (found = keysOf(issuer)));
    return found;
  };

  const verifySignedBy = async (token: string, issuer: IssuerSettings): Promise<JWTPayload> => {
    const audiences = issuer.audiences ?? [auth.resource];
    try {
      const { payload } = await jwtVerify(token, keysFor(issuer), {
        issuer: issuer.issuer,
        algorithms: ALGORITHMS,
        requiredClaims: ['sub', 'exp'],
        clockTolerance: CLOCK_TOLERANCE,
        ...(issuer.audienceClaim === 'aud' ? { audience: audiences } : {}),
      });
      if (issuer.audienceClaim === 'client_id' && !audiences.includes(stringClaim(payload, 'client_id') ?? '')) {
        throw new InvalidTokenError('token client_id is not an accepted audience');
      }
      // jose checks iat only with maxTokenAge: a token issued in the future is refused here.
      if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + CLOCK_TOLERANCE) throw new InvalidTokenError('token issued in the future');
      // An ID token (Cognito's token_use "id") is never an access token, whatever its audience.
      if (payload['token_use'] !== undefined && payload['token_use'] !== 'access') throw new InvalidTokenError('not an access token');
      return payload;
    } catch (error) {
      if (error instanceof errors.JOSEError) throw new InvalidTokenError(error.code);
      throw error;
    }
  };

  return async (authorization: string | undefined): Promise<VerifiedToken> => {
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(authorization?.trim() ?? '');
    if (!match) throw new InvalidTokenError('missing bearer token');
    const token = match[1]!;
    let iss: string | undefined;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      throw new InvalidTokenError('malformed token');
    }
    const issuer = iss === undefined ? undefined : issuers.get(iss);
    if (!issuer) throw new InvalidTokenError('untrusted issuer');
    const payload = await verifySignedBy(token, issuer);

    const clientId = stringClaim(payload, 'client_id') ?? stringClaim(payload, 'azp');
    const tenantClaim = payload[issuer.tenantClaim];
    // A token without a tenant claim (client credentials) gets its client's tenant and roles.
    const client = tenantClaim === undefined && clientId !== undefined && issuer.clients && Object.hasOwn(issuer.clients, clientId)
      ? issuer.clients[clientId]
      : undefined;
    const roles = client ? client.roles : StringListClaimSchema.safeParse(payload[issuer.rolesClaim] ?? []).data ?? [];
    const principal = PrincipalSchema.safeParse({
      tenantId: client ? client.tenant : tenantClaim,
      subject: payload.sub,
      roles: roles.filter((role) => RoleSchema.safeParse(role).success),
    });
    if (!principal.success) throw new InvalidTokenError('token claims are not a valid principal');
    const scopes = ScopeClaimSchema.safeParse(payload[issuer.scopeClaim] ?? []).data ?? [];
    return { principal: principal.data, scopes, ...(clientId !== undefined ? { clientId } : {}), expiresAt: payload.exp! };
  };
};

export type JwtVerifier = ReturnType<typeof createJwtVerifier>;
