import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import * as z from 'zod';
import type { AuthSettings } from '../contracts';
import { PrincipalSchema, RoleSchema, type Principal } from '../domain/principal';

/** The contract's auth settings: issuer, audience, JWKS and claim names. */
export type JwtVerifierConfig = AuthSettings;

/** The token is missing, malformed, expired, signed by someone else, or lacks a tenant. */
export class InvalidTokenError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'InvalidTokenError';
  }
}

const RolesClaimSchema = z.union([z.array(z.string()), z.string().transform((s) => s.split(/[\s,]+/).filter(Boolean))]);

/** Verifies RS256/ES256 JWTs against an issuer's JWKS and turns their claims into a Principal. */
export const createJwtVerifier = (
  config: JwtVerifierConfig,
  keys: JWTVerifyGetKey = createRemoteJWKSet(new URL(config.jwksUri), { cacheMaxAge: 10 * 60_000 }),
) => {
  return async (authorization: string | undefined): Promise<{ principal: Principal; token: string; expiresAt: number }> => {
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(authorization?.trim() ?? '');
    if (!match) throw new InvalidTokenError('missing bearer token');
    const token = match[1]!;
    let payload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: ['RS256', 'ES256'],
        requiredClaims: ['sub', 'exp', config.tenantClaim],
        clockTolerance: 30,
      }));
    } catch (error) {
      if (error instanceof errors.JOSEError) throw new InvalidTokenError(error.code);
      throw error;
    }
    const roles = RolesClaimSchema.safeParse(payload[config.rolesClaim] ?? []);
    const principal = PrincipalSchema.safeParse({
      tenantId: payload[config.tenantClaim],
      subject: payload.sub,
      roles: roles.success ? roles.data.filter((role) => RoleSchema.safeParse(role).success) : [],
    });
    if (!principal.success) throw new InvalidTokenError('token claims are not a valid principal');
    return { principal: principal.data, token, expiresAt: payload.exp! };
  };
};

export type JwtVerifier = ReturnType<typeof createJwtVerifier>;
