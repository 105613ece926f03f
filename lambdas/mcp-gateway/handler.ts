import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import * as z from 'zod';
import { systemClock, type Logger } from '../domain/ports';
import { PrincipalSchema, RoleSchema } from '../domain/principal';
import { headerOf, toProxyResult, toWebRequest } from '../adapters/api-gateway';
import { agentRegistry, createObservability, ENV, readEnv, taskQueue, tasksRepository, type AwsClientConfig, type Env } from '../adapters/runtime';
import { instrument, lambdaEntry } from '../adapters/lambda-entry';
import { createMcpEndpoint, jsonRpcError, methodNotAllowed, RPC, type McpEndpoint } from './mcp-endpoint';
import { createToolsServer } from './tools';

/** What the authorizer put in `requestContext.authorizer` (API Gateway passes strings). */
const AuthorizerContextSchema = z
  .object({
    tenantId: z.string(),
    subject: z.string(),
    roles: z.string().transform((s) => s.split(',').filter((r) => RoleSchema.safeParse(r).success)),
  })
  .transform(({ tenantId, subject, roles }) => PrincipalSchema.parse({ tenantId, subject, roles }));

const unauthorized = () =>
  toProxyResult(jsonRpcError(401, RPC.invalidRequest, 'Unauthorized', { 'www-authenticate': 'Bearer realm="switchboard"' }));

export const makeHandler = (deps: { endpoint: McpEndpoint; logger: Logger }) =>
  async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const principal = AuthorizerContextSchema.safeParse(event.requestContext?.authorizer ?? {});
    if (!principal.success) return unauthorized();
    const token = headerOf(event, 'authorization')?.replace(/^Bearer\s+/i, '') ?? '';
    const request = toWebRequest(event);
    if (!(request instanceof Request)) {
      return toProxyResult(
        request.reason === 'method' ? methodNotAllowed() : jsonRpcError(400, RPC.invalidRequest, `Bad Request: header ${request.name} is malformed`),
      );
    }
    return toProxyResult(await deps.endpoint(request, principal.data, token));
  };

const EndpointEnvShape = {
  [ENV.maxBodyBytes]: z.coerce.number().int().positive(),
  [ENV.allowedHosts]: z.string().optional(),
  [ENV.allowedOrigins]: z.string().optional(),
};
const list = (value: string | undefined) => value?.split(',').map((s) => s.trim()).filter(Boolean);

/** Composition root: SDK clients and the JWKS-free endpoint, built once per container. */
export const createHandler = (env: Env, aws: AwsClientConfig = {}) => {
  const observability = createObservability('mcp-gateway', env);
  const { logger, tracer, telemetry } = observability;
  const config = readEnv(env, EndpointEnvShape);
  const deps = {
    tasks: tasksRepository(env, aws, tracer),
    queue: taskQueue(env, aws, tracer),
    agents: agentRegistry(env),
    clock: systemClock,
    logger,
    telemetry,
  };
  const allowedHosts = list(config[ENV.allowedHosts]);
  const allowedOrigins = list(config[ENV.allowedOrigins]);
  const endpoint = createMcpEndpoint((principal) => createToolsServer(deps, principal), {
    maxBodyBytes: config[ENV.maxBodyBytes],
    logger,
    ...(allowedHosts ? { allowedHosts } : {}),
    ...(allowedOrigins ? { allowedOrigins } : {}),
  });
  return instrument(makeHandler({ endpoint, logger }), observability);
};

export const handler = lambdaEntry(() => createHandler(process.env));
