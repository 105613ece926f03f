import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayAuthorizerResult, APIGatewayTokenAuthorizerEvent } from 'aws-lambda';
import type { Logger } from '../domain/ports';
import { createJwtVerifier, InvalidTokenError, type JwtVerifier } from '../adapters/jwt-verifier';
import { lambdaEntry } from '../adapters/lambda-entry';
import { createLogger } from '../adapters/runtime';
import { AuthorizerEnvSchema, authSettingsOf, readEnv, type Env } from '../contracts';

/** API Gateway turns exactly this error message into a 401 (the UNAUTHORIZED gateway response). */
export const UNAUTHORIZED = 'Unauthorized';

/** `arn:aws:execute-api:region:account:api/stage/METHOD/path` → every method and path of the stage. */
const stageWildcard = (methodArn: string): string => {
  const [prefix, path = ''] = methodArn.split(/:(?=[^:]*$)/);
  const [apiId, stage] = path.split('/');
  return `${prefix}:${apiId}/${stage}/*/*`;
};

export const makeHandler = (deps: { verify: JwtVerifier; logger: Logger }) =>
  async (event: APIGatewayTokenAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
    try {
      const { principal } = await deps.verify(event.authorizationToken);
      return {
        principalId: `${principal.tenantId}/${principal.subject}`,
        policyDocument: {
          Version: '2012-10-17',
          Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: stageWildcard(event.methodArn) }],
        },
        context: { tenantId: principal.tenantId, subject: principal.subject, roles: principal.roles.join(',') },
      };
    } catch (error) {
      if (error instanceof InvalidTokenError) {
        deps.logger.info('token rejected', { reason: error.reason });
        throw new Error(UNAUTHORIZED);
      }
      throw error;
    }
  };

export const createHandler = (env: Env) => {
  const logger = createLogger('authorizer', env);
  const verify = createJwtVerifier(authSettingsOf(readEnv(AuthorizerEnvSchema, env)));
  return middy(makeHandler({ verify, logger })).use(injectLambdaContext(logger));
};

export const handler = lambdaEntry(() => createHandler(process.env));
