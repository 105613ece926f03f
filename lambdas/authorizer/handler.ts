import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayAuthorizerResult, APIGatewayTokenAuthorizerEvent } from 'aws-lambda';
import type { Logger } from '../domain/ports';
import { createJwtVerifier, InvalidTokenError, type JwtVerifier } from '../adapters/jwt-verifier';
import { lambdaEntry } from '../adapters/lambda-entry';
import { createLogger } from '../adapters/runtime';
import { AuthorizerEnvSchema, authSettingsOf, ENV, readEnv, usageKeyOfTenant, type Env } from '../contracts';

/** API Gateway turns exactly this error message into a 401 (the UNAUTHORIZED gateway response). */
export const UNAUTHORIZED = 'Unauthorized';

/** `arn:aws:execute-api:region:account:api/stage/METHOD/path` → every method and path of the stage. */
const stageWildcard = (methodArn: string): string => {
  const [prefix, path = ''] = methodArn.split(/:(?=[^:]*$)/);
  const [apiId, stage] = path.split('/');
  return `${prefix}:${apiId}/${stage}/*/*`;
};

export interface AuthorizerDeps {
  verify: JwtVerifier;
  logger: Logger;
  /** The usage-plan key of a tenant (returned as usageIdentifierKey); absent: the API has no usage plans. */
  usageKey?: (tenantId: string) => string;
}

export const makeHandler = (deps: AuthorizerDeps) =>
  async (event: APIGatewayTokenAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
    try {
      const { principal, scopes, clientId } = await deps.verify(event.authorizationToken);
      return {
        principalId: `${principal.tenantId}/${principal.subject}`,
        policyDocument: {
          Version: '2012-10-17',
          Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: stageWildcard(event.methodArn) }],
        },
        // API Gateway passes context values as strings: roles comma-joined, scopes space-joined (as in the token).
        context: {
          tenantId: principal.tenantId,
          subject: principal.subject,
          roles: principal.roles.join(','),
          scopes: scopes.join(' '),
          clientId: clientId ?? '',
        },
        ...(deps.usageKey ? { usageIdentifierKey: deps.usageKey(principal.tenantId) } : {}),
      };
    } catch (error) {
      if (error instanceof InvalidTokenError) {
        // The reason only: never the token, nor any claim of a token that failed verification.
        deps.logger.info('token rejected', { reason: error.reason });
        throw new Error(UNAUTHORIZED);
      }
      throw error;
    }
  };

export const createHandler = (rawEnv: Env) => {
  const logger = createLogger('authorizer', rawEnv);
  const env = readEnv(AuthorizerEnvSchema, rawEnv);
  const verify = createJwtVerifier(authSettingsOf(env));
  const quotas = env[ENV.quotas];
  const seed = env[ENV.usageKeySeed];
  const usageKey = quotas && seed ? (tenantId: string) => usageKeyOfTenant(quotas, seed, tenantId) : undefined;
  return middy(makeHandler({ verify, logger, ...(usageKey ? { usageKey } : {}) })).use(injectLambdaContext(logger));
};

export const handler = lambdaEntry(() => createHandler(process.env));
