import * as z from 'zod';
import { TenantIdSchema } from '../contracts/tenant';
import { PreTokenEnvSchema, readEnv, type Env } from '../contracts';
import { createObservability } from '../adapters/runtime';
import { instrument, lambdaEntry } from '../adapters/lambda-entry';

export { COGNITO_ROLES_CLAIM, COGNITO_TENANT_CLAIM } from '../contracts/tenant';
import { COGNITO_ROLES_CLAIM, COGNITO_TENANT_ATTRIBUTE, COGNITO_TENANT_CLAIM, ROLES, type Role } from '../contracts/tenant';
/** The user pool's tenant attribute (immutable, set by an admin or mapped from the federated IdP). */
export const TENANT_ATTRIBUTE = `custom:${COGNITO_TENANT_ATTRIBUTE}`;

/** What this trigger reads of Cognito's pre token generation event, version 2 (V2_0); the rest passes through. */
const PreTokenEventSchema = z.looseObject({
  version: z.literal('2'),
  triggerSource: z.string().startsWith('TokenGeneration_'),
  userName: z.string().min(1),
  request: z.looseObject({
    userAttributes: z.record(z.string(), z.string()),
    groupConfiguration: z.looseObject({ groupsToOverride: z.array(z.string()).default([]) }).optional(),
  }),
  response: z.looseObject({}).nullable().optional(),
});
export type PreTokenEvent = z.input<typeof PreTokenEventSchema>;

/** A user the trigger will not issue tokens for: Cognito fails the sign-in with this message. */
export class NoTenantError extends Error {
  override name = 'NoTenantError';
}

/**
 * Cognito access tokens carry neither custom attributes nor an `aud`: this trigger adds the user's
 * tenant (`custom:tenant_id`) and roles (the user's groups that are Switchboard roles) to the
 * ACCESS token, as `tenant_id` and `roles`, so the authorizer reads them as it does any issuer's.
 * A user without a valid tenant gets no token at all (sign-in fails), never one without a tenant.
 * Machine clients (client credentials) never reach this trigger: the authorizer maps their client_id.
 */
export const preTokenGeneration = (rawEvent: unknown, logger?: { warn(message: string, ...extra: Record<string, unknown>[]): void }) => {
  const event = PreTokenEventSchema.parse(rawEvent);
  const tenant = TenantIdSchema.safeParse(event.request.userAttributes[TENANT_ATTRIBUTE]);
  if (!tenant.success) {
    logger?.warn('sign-in refused: the user has no valid tenant', { userName: event.userName, triggerSource: event.triggerSource });
    throw new NoTenantError('this user has no tenant: ask an administrator to set custom:tenant_id');
  }
  const groups = event.request.groupConfiguration?.groupsToOverride ?? [];
  const roles = groups.filter((group): group is Role => (ROLES as readonly string[]).includes(group));
  return {
    ...(rawEvent as object),
    response: {
      claimsAndScopeOverrideDetails: {
        accessTokenGeneration: { claimsToAddOrOverride: { [COGNITO_TENANT_CLAIM]: tenant.data, [COGNITO_ROLES_CLAIM]: roles } },
        idTokenGeneration: { claimsToAddOrOverride: { [COGNITO_TENANT_CLAIM]: tenant.data } },
      },
    },
  };
};

export const createHandler = (rawEnv: Env) => {
  readEnv(PreTokenEnvSchema, rawEnv);
  const observability = createObservability('pre-token', rawEnv);
  return instrument(async (event: unknown) => preTokenGeneration(event, observability.logger), observability);
};

export const handler = lambdaEntry(() => createHandler(process.env));
