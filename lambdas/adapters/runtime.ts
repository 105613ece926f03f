import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { SQSClient, type SQSClientConfig } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import * as z from 'zod';
import { StaticAgentRegistry } from '../domain/agents/registry';
import { PRIORITIES, type Priority } from '../domain/task';
import { DynamoDbTaskRepository } from './dynamodb-task-repository';
import { PowertoolsTaskTelemetry } from './powertools-telemetry';
import { SqsTaskQueue } from './sqs-task-queue';

/** Environment variable names: the CDK constructs set them, the composition roots read them. */
export const ENV = {
  tasksTable: 'TASKS_TABLE_NAME',
  queueUrl: (priority: Priority) => `QUEUE_URL_${priority.toUpperCase()}`,
  enabledAgents: 'ENABLED_AGENTS',
  maxAttempts: 'WORKER_MAX_ATTEMPTS',
  leaseMs: 'WORKER_LEASE_MS',
  authIssuer: 'AUTH_ISSUER',
  authAudience: 'AUTH_AUDIENCE',
  authJwksUri: 'AUTH_JWKS_URI',
  authTenantClaim: 'AUTH_TENANT_CLAIM',
  authRolesClaim: 'AUTH_ROLES_CLAIM',
  maxBodyBytes: 'MCP_MAX_BODY_BYTES',
  allowedHosts: 'MCP_ALLOWED_HOSTS',
  allowedOrigins: 'MCP_ALLOWED_ORIGINS',
} as const;

export type Env = Readonly<Record<string, string | undefined>>;

const csv = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

/** Reads and validates the named variables, failing fast with the name of each bad one. */
export const readEnv = <S extends z.ZodRawShape>(env: Env, shape: S): z.infer<z.ZodObject<S>> => {
  const parsed = z.object(shape).safeParse(env);
  if (!parsed.success) {
    const names = parsed.error.issues.map((issue) => `${issue.path.join('.')} (${issue.message})`);
    throw new Error(`invalid configuration: ${names.join('; ')}`);
  }
  return parsed.data;
};

export const TasksEnvShape = { [ENV.tasksTable]: z.string().min(1) };
// Not z.url(): the SQS emulator's URLs (sqs.<region>.127.0.0.1:port) are not WHATWG-valid hosts.
export const QueuesEnvShape = Object.fromEntries(PRIORITIES.map((p) => [ENV.queueUrl(p), z.string().regex(/^https?:\/\/\S+$/)])) as Record<
  string,
  z.ZodString
>;
export const AgentsEnvShape = { [ENV.enabledAgents]: csv };
export const AuthEnvShape = {
  [ENV.authIssuer]: z.string().url(),
  [ENV.authAudience]: z.string().min(1),
  [ENV.authJwksUri]: z.string().url(),
  [ENV.authTenantClaim]: z.string().min(1),
  [ENV.authRolesClaim]: z.string().min(1),
};

/** SDK client settings; the local cloud passes endpoint overrides, Lambda passes nothing. */
export interface AwsClientConfig {
  dynamodb?: DynamoDBClientConfig;
  sqs?: SQSClientConfig;
}

/** The log levels a function accepts in POWERTOOLS_LOG_LEVEL (any case); others fall back to INFO. */
export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The level named by `value` (any case), or undefined when it names none. */
export const parseLogLevel = (value: string | undefined): LogLevel | undefined => {
  const upper = value?.toUpperCase();
  return LOG_LEVELS.find((level) => level === upper);
};

/** The function's logger; its level comes from the function's own environment. */
export const createLogger = (serviceName: string, env: Env) =>
  new Logger({ serviceName, logLevel: parseLogLevel(env['POWERTOOLS_LOG_LEVEL']) ?? 'INFO' });

/** Logger, metrics and tracer of one function, from Powertools; outside Lambda the tracer is off. */
export const createObservability = (serviceName: string, env: Env) => {
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName });
  return {
    logger: createLogger(serviceName, env),
    metrics,
    tracer: new Tracer({ serviceName }),
    telemetry: new PowertoolsTaskTelemetry(metrics),
  };
};
export const METRICS_NAMESPACE = 'Switchboard';

export const tasksRepository = (env: Env, aws: AwsClientConfig, tracer?: Tracer) =>
  new DynamoDbTaskRepository(
    traced(new DynamoDBClient(aws.dynamodb ?? {}), tracer),
    readEnv(env, TasksEnvShape)[ENV.tasksTable],
  );

export const taskQueue = (env: Env, aws: AwsClientConfig, tracer?: Tracer) => {
  const urls = readEnv(env, QueuesEnvShape);
  return new SqsTaskQueue(
    traced(new SQSClient(aws.sqs ?? {}), tracer),
    Object.fromEntries(PRIORITIES.map((p) => [p, urls[ENV.queueUrl(p)]!])) as Record<Priority, string>,
  );
};

/** SDK calls as X-Ray subsegments when tracing is on. */
export const traced = <T>(client: T, tracer?: Tracer): T => (tracer ? tracer.captureAWSv3Client(client) : client);

export const agentRegistry = (env: Env) => StaticAgentRegistry.fromNames(readEnv(env, AgentsEnvShape)[ENV.enabledAgents]);
