import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { performance } from 'node:perf_hooks';
import { dependencyProbes } from '../adapters/health-probes';
import { instrument, lambdaEntry } from '../adapters/lambda-entry';
import { createObservability, dynamoDbClient, kmsClient, sfnClient, sqsClient, type AwsClientConfig } from '../adapters/runtime';
import { ENV, HealthEnvSchema, readEnv, type Env } from '../contracts';
import { systemClock } from '../domain/ports';
import { checkHealth, healthStatusCode, type HealthDeps } from '../domain/use-cases/health';

/** Who may run the deep check on AWS (the authorizer's `roles`, comma-joined): platform operators. */
export const HEALTH_ROLE = 'operator';

const json = (statusCode: number, body: unknown): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
  body: JSON.stringify(body),
});

/**
 * GET /healthz/deep (behind the authorizer): operators get the deep check's report, 200 when every
 * dependency answered, 503 naming the ones that did not; anyone else 403; another method 405.
 */
export const makeHandler = (deps: HealthDeps & { timeoutMs?: number }) => async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  if (event.httpMethod !== 'GET') return json(405, { message: 'Method Not Allowed: GET only' });
  const roles = String(event.requestContext?.authorizer?.['roles'] ?? '').split(',');
  if (!roles.includes(HEALTH_ROLE)) return json(403, { message: `Forbidden: the deep health check is for the ${HEALTH_ROLE} role` });
  const report = await checkHealth(deps, deps.timeoutMs === undefined ? {} : { timeoutMs: deps.timeoutMs });
  return json(healthStatusCode(report), report);
};

export const createHandler = (rawEnv: Env, aws: AwsClientConfig = {}) => {
  const observability = createObservability('health', rawEnv);
  const env = readEnv(HealthEnvSchema, rawEnv);
  const { tracer } = observability;
  // LOCAL ONLY: the key files npm start uses instead of KMS keys (no KMS emulator).
  const keyFiles = {
    ...(env[ENV.envelopeKeyFile] ? { 'local-envelope-key-file': env[ENV.envelopeKeyFile] } : {}),
    ...(env[ENV.auditSigningKeyFile] ? { 'local-audit-signing-key-file': env[ENV.auditSigningKeyFile] } : {}),
  };
  const probes = dependencyProbes(
    env[ENV.healthChecks],
    { dynamodb: dynamoDbClient(aws, tracer), sqs: sqsClient(aws, tracer), kms: kmsClient(aws, tracer), sfn: sfnClient(aws, tracer) },
    Object.keys(keyFiles).length ? keyFiles : undefined,
  );
  return instrument(makeHandler({ probes, now: () => performance.now(), clock: systemClock }), observability);
};

export const handler = lambdaEntry(() => createHandler(process.env));
