import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { SQSClient, type SQSClientConfig } from '@aws-sdk/client-sqs';
import { SFNClient, type SFNClientConfig } from '@aws-sdk/client-sfn';
import { BedrockRuntimeClient, type BedrockRuntimeClientConfig } from '@aws-sdk/client-bedrock-runtime';
import { SecretsManagerClient, type SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { STSClient, type STSClientConfig } from '@aws-sdk/client-sts';
import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms';
import * as z from 'zod';
import { CLASSIFICATION_LEVEL, dataKeyEnvName, type ClassificationSettings } from '../contracts/classification';
import { OpenedValueCache, OpenedValues, type Envelope } from '../domain/envelope';
import { KmsEnvelope, dataKeysFromEnv } from './kms-envelope';
import { LocalEnvelope } from './local-envelope';
import type { TaskSealing } from './sealed-attributes';
import { DeploymentAgents } from '../agents/deployment-agents';
import { bedrockConverse } from './bedrock-converse';
import { FileSecretStore, SecretsManagerSecretStore } from './secrets';
import { NO_CONNECTORS, type Connectors } from '../contracts/agent-connectors';
import { systemClock, type Logger as DomainLogger } from '../domain/ports';
import { SfnWorkflowEngine } from './sfn-workflow-engine';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { StaticAgentRegistry } from '../agents/registry';
import { ENV, type Env, type Priority, type QuotaSettings } from '../contracts';
import { DynamoDbTenantQuota } from './dynamodb-tenant-quota';
import { DynamoDbTaskRepository } from './dynamodb-task-repository';
import { DynamoDbStepStore } from './dynamodb-step-store';
import { DynamoDbAgentStateStore } from './dynamodb-agent-state-store';
import { PowertoolsTaskTelemetry } from './powertools-telemetry';
import { SqsTaskQueue } from './sqs-task-queue';

/** Something that adds middleware to an SDK client's stack (the SDK's `Pluggable`, whatever the client). */
export interface SdkPlugin {
  applyToStack(stack: Parameters<SQSClient['middlewareStack']['use']>[0] extends { applyToStack(s: infer S): void } ? S : never): void;
}

/**
 * SDK client settings; the local cloud passes endpoint overrides (and, for `npm run bench -- --cost`,
 * a plugin that counts requests), Lambda passes nothing.
 */
export interface AwsClientConfig {
  dynamodb?: DynamoDBClientConfig;
  sqs?: SQSClientConfig;
  stepfunctions?: SFNClientConfig;
  bedrock?: BedrockRuntimeClientConfig;
  secretsmanager?: SecretsManagerClientConfig;
  /** STS: the gateway assumes the tenant-scoped role (the local cloud's STS stand-in locally). */
  sts?: STSClientConfig;
  /** KMS: the data keys of the envelope encryption (the gateway's on the tenant's session). */
  kms?: KMSClientConfig;
  /** Added to every client the factories below build. */
  plugins?: readonly SdkPlugin[];
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
  new Logger({ serviceName, logLevel: parseLogLevel(env[ENV.logLevel]) ?? 'INFO' });

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

const withPlugins = <T extends { middlewareStack: { use(plugin: never): void } }>(client: T, aws: AwsClientConfig): T => {
  for (const plugin of aws.plugins ?? []) client.middlewareStack.use(plugin as never);
  return client;
};

export const dynamoDbClient = (aws: AwsClientConfig, tracer?: Tracer) => traced(withPlugins(new DynamoDBClient(aws.dynamodb ?? {}), aws), tracer);

export const sqsClient = (aws: AwsClientConfig, tracer?: Tracer) => traced(withPlugins(new SQSClient(aws.sqs ?? {}), aws), tracer);

export const stsClient = (aws: AwsClientConfig, tracer?: Tracer) => traced(withPlugins(new STSClient(aws.sts ?? {}), aws), tracer);

export const kmsClient = (aws: AwsClientConfig, tracer?: Tracer) => traced(withPlugins(new KMSClient(aws.kms ?? {}), aws), tracer);

/**
 * How a function seals sensitive task data: the classification settings (CLASSIFICATIONS) and
 * either the data key of each level (`DATA_KEY_ARN_<LEVEL>`, set by DataKeys.bindEnvelope) or,
 * LOCAL ONLY, the local key file (ENVELOPE_KEY_FILE, set by the local cloud).
 */
export interface EnvelopeSettings {
  classifications: ClassificationSettings;
  /** Level → KMS key ARN. */
  keys: Record<string, string>;
  /** LOCAL ONLY: the key file of LocalEnvelope (npm start, tests), instead of KMS. */
  keyFile?: string;
}

const KeyFileSchema = z.string().min(1).optional();
const KeyArnSchema = z.string().regex(/^arn:[^:]+:kms:/, 'a KMS key ARN');

/**
 * The envelope settings from a function's variables; undefined when CLASSIFICATIONS is absent
 * (nothing is sealed). `classifications`: the parsed CLASSIFICATIONS of the function's schema.
 */
export const envelopeSettings = (classifications: ClassificationSettings | undefined, env: Env): EnvelopeSettings | undefined => {
  if (!classifications) return undefined;
  const keyFile = KeyFileSchema.parse(env[ENV.envelopeKeyFile]);
  const keys = dataKeysFromEnv(env as NodeJS.ProcessEnv, classifications.levels);
  for (const level of Object.keys(keys)) {
    if (!CLASSIFICATION_LEVEL.test(level) || !KeyArnSchema.safeParse(keys[level]).success) throw new Error(`invalid configuration: ${dataKeyEnvName(level)} (a KMS key ARN)`);
  }
  return { classifications, keys, ...(keyFile ? { keyFile } : {}) };
};

/**
 * The sealing of one set of credentials: LocalEnvelope on the key file when ENVELOPE_KEY_FILE is
 * set (LOCAL ONLY), else KmsEnvelope on the data keys with `aws.kms`'s credentials.
 */
export const taskSealing = (
  settings: EnvelopeSettings | undefined,
  aws: AwsClientConfig,
  tracer?: Tracer,
  /** The container's opened values, shared by its envelopes (one per tenant session): one memory budget. */
  opened: OpenedValues = new OpenedValues(),
): TaskSealing | undefined => {
  if (!settings) return undefined;
  const envelope: Envelope = settings.keyFile
    ? LocalEnvelope.fromKeyFile(settings.keyFile, settings.classifications.levels)
    : new KmsEnvelope(kmsClient(aws, tracer), settings.keys);
  // A value read again within a minute (a client polling a sensitive task) is opened once (docs/security.md).
  return { envelope: new OpenedValueCache(envelope, opened), classifications: settings.classifications };
};

export const tasksRepository = (tableName: string, aws: AwsClientConfig, tracer?: Tracer, sealing?: TaskSealing) =>
  new DynamoDbTaskRepository(dynamoDbClient(aws, tracer), tableName, sealing);

export const agentStateStore = (tableName: string, aws: AwsClientConfig, tracer?: Tracer) =>
  new DynamoDbAgentStateStore(dynamoDbClient(aws, tracer), tableName);

export const stepStore = (tableName: string, aws: AwsClientConfig, tracer?: Tracer, sealing?: TaskSealing) =>
  new DynamoDbStepStore(dynamoDbClient(aws, tracer), tableName, sealing);

export const tenantQuota = (tableName: string, settings: QuotaSettings, aws: AwsClientConfig, tracer?: Tracer) =>
  new DynamoDbTenantQuota(dynamoDbClient(aws, tracer), tableName, settings);

export const sfnClient = (aws: AwsClientConfig, tracer?: Tracer) => traced(withPlugins(new SFNClient(aws.stepfunctions ?? {}), aws), tracer);

/** Workflow name → state machine ARN (the WORKFLOWS variable); absent: no workflows. */
export const workflowEngine = (machines: Readonly<Record<string, string>> | undefined, aws: AwsClientConfig, tracer?: Tracer) =>
  machines && Object.keys(machines).length ? new SfnWorkflowEngine(sfnClient(aws, tracer), machines) : undefined;

export const taskQueue = (queueUrls: Record<Priority, string>, aws: AwsClientConfig, tracer?: Tracer) =>
  new SqsTaskQueue(sqsClient(aws, tracer), queueUrls);

/** SDK calls as X-Ray subsegments when tracing is on. */
export const traced = <T>(client: T, tracer?: Tracer): T => (tracer ? tracer.captureAWSv3Client(client) : client);

export const agentRegistry = (names: readonly string[]) => StaticAgentRegistry.fromNames(names);

/**
 * The agents a function can run: the enabled built-in ones and the connectors'. Secrets come from a
 * local file when SECRETS_FILE is set (npm start), else from Secrets Manager; LLM steps call
 * Bedrock (an endpoint override locally); routed agents share their state in the tasks table.
 */
export const deploymentAgents = (
  settings: { builtIns: readonly string[]; connectors?: Connectors; secretsFile?: string; tasksTable: string },
  aws: AwsClientConfig,
  logger: DomainLogger,
  tracer?: Tracer,
) =>
  new DeploymentAgents(settings.builtIns, settings.connectors ?? NO_CONNECTORS, {
    secrets: settings.secretsFile
      ? new FileSecretStore(settings.secretsFile)
      : new SecretsManagerSecretStore(traced(withPlugins(new SecretsManagerClient(aws.secretsmanager ?? {}), aws), tracer)),
    converse: bedrockConverse(traced(withPlugins(new BedrockRuntimeClient(aws.bedrock ?? {}), aws), tracer)),
    logger,
    router: { agentStates: agentStateStore(settings.tasksTable, aws, tracer), clock: systemClock, logger },
  });
