import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import * as z from 'zod';
import { systemClock, type Logger } from '../domain/ports';
import { PrincipalSchema, RoleSchema } from '../domain/principal';
import { toProxyResult, toWebRequest } from '../adapters/api-gateway';
import { agentStateStore, deploymentAgents, createObservability, envelopeSettings, taskQueue, workflowEngine, type AwsClientConfig } from '../adapters/runtime';
import { tenantDataRepositories } from '../adapters/tenant-credentials';
import { cedarAccessPolicy, policiesDirOf } from '../adapters/cedar-access-policy';
import { ENV, GatewayEnvSchema, queueUrlsOf, readEnv, type Env } from '../contracts';
import type { McpServerConnectorConfig } from '../contracts/connectors-mcp';
import { instrument, lambdaEntry } from '../adapters/lambda-entry';
import { createMcpEndpoint, jsonRpcError, methodNotAllowed, RPC, unauthorizedAnswer, type Caller, type McpEndpoint } from './mcp-endpoint';
import { createToolsServer } from './tools';
import { effectivePrincipal } from '../domain/use-cases/role-grants';
import { recordDenial } from '../domain/use-cases/audited-call';
import { auditDigestStore, auditSigning, auditStore, noTrustedKey } from '../adapters/audit-runtime';

/** What the authorizer put in `requestContext.authorizer` (API Gateway passes strings: roles comma-, scopes space-joined). */
const AuthorizerContextSchema = z
  .object({
    tenantId: z.string(),
    subject: z.string(),
    roles: z.string().transform((s) => s.split(',').filter((r) => RoleSchema.safeParse(r).success)),
    scopes: z.string().transform((s) => s.split(' ').filter(Boolean)),
    clientId: z.string().optional(),
  })
  .transform(({ tenantId, subject, roles, scopes, clientId }, ctx): Omit<Caller, 'requestId'> => {
    const principal = PrincipalSchema.safeParse({ tenantId, subject, roles });
    if (!principal.success) {
      ctx.addIssue({ code: 'custom', message: 'not a principal' });
      return z.NEVER;
    }
    return { principal: principal.data, scopes, ...(clientId ? { clientId } : {}) };
  });

/** The same answer API Gateway gives a request without a valid token (its UNAUTHORIZED gateway response, with the challenge). */
const unauthorized = (resource: string) => toProxyResult(unauthorizedAnswer(resource));

/** `resource`: the endpoint's canonical URI (AUTH_RESOURCE), whose metadata the 401 challenge names. */
export const makeHandler = (deps: { endpoint: McpEndpoint; logger: Logger; resource: string }) =>
  async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const caller = AuthorizerContextSchema.safeParse(event.requestContext?.authorizer ?? {});
    if (!caller.success) return unauthorized(deps.resource);
    // The Authorization header is not read here: the authorizer verified it, and it goes no further.
    const request = toWebRequest(event);
    if (!(request instanceof Request)) {
      return toProxyResult(
        request.reason === 'method' ? methodNotAllowed() : jsonRpcError(400, RPC.invalidRequest, `Bad Request: header ${request.name} is malformed`),
      );
    }
    const requestId = typeof event.requestContext?.requestId === 'string' && event.requestContext.requestId ? event.requestContext.requestId.slice(0, 256) : undefined;
    return toProxyResult(await deps.endpoint(request, { ...caller.data, ...(requestId ? { requestId } : {}) }));
  };

/** Composition root: SDK clients and the endpoint, built once per container. */
export const createHandler = (rawEnv: Env, aws: AwsClientConfig = {}) => {
  const observability = createObservability('mcp-gateway', rawEnv);
  const { logger, tracer, telemetry } = observability;
  const env = readEnv(GatewayEnvSchema, rawEnv);
  const quotas = env[ENV.quotas];
  const workflows = workflowEngine(env[ENV.workflows], aws, tracer);
  const agents = deploymentAgents({ builtIns: env[ENV.enabledAgents], connectors: env[ENV.connectors], secretsFile: env[ENV.secretsFile], tasksTable: env[ENV.tasksTable] }, aws, logger, tracer);
  // Tenant data (tasks, steps, quota) on the caller's tenant's session of the tenant-scoped role: IAM confines it.
  // Operators (whom the access policy may let redrive every tenant's dead letters) reach each task through its own tenant's session.
  const tenantData = tenantDataRepositories(
    {
      tableName: env[ENV.tasksTable],
      ...(env[ENV.tenantRoleArn] ? { roleArn: env[ENV.tenantRoleArn] } : {}),
      ...(quotas ? { quotas } : {}),
      limits: env[ENV.principalLimits],
      workflows: workflows !== undefined,
      // Sensitive task data sealed on the tenant's session (its own tenant in every KMS context).
      envelope: envelopeSettings(env[ENV.classifications], rawEnv),
    },
    aws,
    tracer,
  );
  const resource = env[ENV.authResource];
  // The audit log: on the gateway's own role (append-only grant), every tenant's chain.
  const audit = auditStore(env[ENV.auditTable], aws, tracer);
  const signing = auditSigning(env, aws, tracer);
  const deps = {
    audit,
    auditReading: { digests: auditDigestStore(env[ENV.auditTable], aws, tracer), verifier: signing ?? noTrustedKey },
    // The access policy (Cedar), loaded once per container.
    access: cedarAccessPolicy(policiesDirOf(rawEnv)),
    queue: taskQueue(queueUrlsOf(env), aws, tracer),
    agents,
    agentStates: agentStateStore(env[ENV.tasksTable], aws, tracer),
    agentAdmin: { discover: (config: McpServerConnectorConfig) => agents.discover(config), configuredAgentIds: agents.configuredAgentIds() },
    clock: systemClock,
    logger,
    telemetry,
    ...(env[ENV.pullCapabilities]?.length ? { pullCapabilities: env[ENV.pullCapabilities] } : {}),
    ...(workflows ? { workflows } : {}),
  };
  const allowedHosts = env[ENV.allowedHosts];
  const allowedOrigins = env[ENV.allowedOrigins];
  const endpoint = createMcpEndpoint((call) => createToolsServer({ ...deps, ...tenantData(call.principal.tenantId, call.principal.roles.includes('operator')) }, call), {
    maxBodyBytes: env[ENV.maxBodyBytes],
    limits: env[ENV.principalLimits],
    // Roles granted until now (grant_role) join the token's, read on every tools/list and tools/call.
    resolvePrincipal: (principal) => effectivePrincipal(tenantData(principal.tenantId, false), principal, systemClock.now()),
    // A call refused at the edge for its token's scope is an access decision too.
    recordDenial: async (call, tool, code) => void (await recordDenial({ store: audit, clock: systemClock, logger }, call, { tool, kind: 'tool', args: null }, code)),
    logger,
    resource,
    ...(allowedHosts ? { allowedHosts } : {}),
    ...(allowedOrigins ? { allowedOrigins } : {}),
  });
  const handler = makeHandler({ endpoint, logger, resource });
  // Downstream MCP servers are discovered before the first request (and retried later if one was down).
  return instrument(async (event: APIGatewayProxyEvent) => (await agents.ready(), handler(event)), observability);
};

export const handler = lambdaEntry(() => createHandler(process.env));
