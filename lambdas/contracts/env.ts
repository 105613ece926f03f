import * as z from 'zod';
import { IssuerSchema, PrincipalLimitsSchema, type ResolvedAuth } from './auth';
import { PRIORITIES, type Priority } from './priorities';
import { QuotaSettingsSchema } from './quotas';
import { ConnectorsSchema } from './agent-connectors';
import { ClassificationSettingsSchema } from './classification';

/**
 * The environment contract between the CDK app and the functions: variable names, and one
 * validated schema per function. Constructs set the variables (and grant what they name) from
 * here; each function's composition root parses its own schema once, at start.
 */
export const ENV = {
  tasksTable: 'TASKS_TABLE_NAME',
  queueUrl: (priority: Priority) => `QUEUE_URL_${priority.toUpperCase()}`,
  enabledAgents: 'ENABLED_AGENTS',
  maxAttempts: 'WORKER_MAX_ATTEMPTS',
  leaseMs: 'WORKER_LEASE_MS',
  /** The canonical URI of the MCP endpoint: the tokens' audience (RFC 8707), PRM's `resource`. */
  authResource: 'AUTH_RESOURCE',
  /** The trusted issuers (IssuerSchema[], audiences resolved), as JSON. */
  authIssuers: 'AUTH_ISSUERS',
  /** What one principal may do at once (PrincipalLimitsSchema), as JSON. */
  principalLimits: 'PRINCIPAL_LIMITS',
  /** The role the gateway assumes, tagged with the caller's tenant, to reach tenant data; absent: its own credentials. */
  tenantRoleArn: 'TENANT_ROLE_ARN',
  /** The folder of the Cedar schema and policies; absent: `policies/` beside the function's bundle. */
  policiesDir: 'POLICIES_DIR',
  maxBodyBytes: 'MCP_MAX_BODY_BYTES',
  allowedHosts: 'MCP_ALLOWED_HOSTS',
  allowedOrigins: 'MCP_ALLOWED_ORIGINS',
  logLevel: 'POWERTOOLS_LOG_LEVEL',
  /** The quota settings (tiers, tenant → tier), as JSON; absent: no per-tenant quota. */
  quotas: 'TENANT_QUOTAS',
  /** The deployment's connectors (MCP servers, HTTP APIs, LLM steps), as JSON; absent: none. */
  connectors: 'CONNECTORS',
  /** A local JSON file of secrets (npm start); absent: AWS Secrets Manager. */
  secretsFile: 'SECRETS_FILE',
  /** Capabilities whose tasks external agents claim over MCP (claim_task), comma-separated; absent: none. */
  pullCapabilities: 'PULL_CAPABILITIES',
  /** Workflow name → state machine ARN, as JSON; absent: no workflows. */
  workflows: 'WORKFLOWS',
  /** The seed of the usage-plan API key values (`usageKeyOf`); absent: no usage plans. */
  usageKeySeed: 'USAGE_KEY_SEED',
  /** The audit log's table (docs/audit.md): every function that acts appends to it. */
  auditTable: 'AUDIT_TABLE_NAME',
  /** The asymmetric KMS key (ECC_NIST_P256) signing audit digests; absent: no digests signed by KMS. */
  auditSigningKeyArn: 'AUDIT_SIGNING_KEY_ARN',
  /** LOCAL ONLY: a P-256 key file signing audit digests instead of KMS (npm start). */
  auditSigningKeyFile: 'AUDIT_SIGNING_KEY_FILE',
  /** The S3 bucket (Object Lock, compliance mode) audit digests are written to; absent: the audit table only. */
  auditDigestBucket: 'AUDIT_DIGEST_BUCKET',
  /** The classification settings (ClassificationSettingsSchema, resolved), as JSON; absent: nothing is sealed. */
  classifications: 'CLASSIFICATIONS',
  /** LOCAL ONLY: the key file of the local envelope (npm start) instead of KMS data keys (`DATA_KEY_ARN_<LEVEL>`). */
  envelopeKeyFile: 'ENVELOPE_KEY_FILE',
  /** The escalator's SLA of a level below critical, in milliseconds (`worker.agingSeconds`). */
  agingMs: (priority: Exclude<Priority, 'critical'>) => `AGING_MS_${priority.toUpperCase()}`,
  /** The deep health check's dependencies (HealthChecksSchema), as JSON: tables, queues, keys, state machines by name. */
  healthChecks: 'HEALTH_CHECKS',
} as const;

/** The levels a queued task may be promoted from (critical is the top). */
export const AGING_PRIORITIES = PRIORITIES.filter((p): p is Exclude<Priority, 'critical'> => p !== 'critical');

export type Env = Readonly<Record<string, string | undefined>>;

const list = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));
const optionalList = list.optional();
// Not z.url(): the SQS emulator's URLs (sqs.<region>.127.0.0.1:port) are not WHATWG-valid hosts.
const queueUrl = z.string().regex(/^https?:\/\/\S+$/, 'an http(s) URL');

const queues = Object.fromEntries(PRIORITIES.map((p) => [ENV.queueUrl(p), queueUrl])) as Record<string, typeof queueUrl>;

/** A variable holding JSON that `schema` validates ("not JSON" when it is not JSON at all). */
const jsonVariable = <S extends z.ZodType>(schema: S) =>
  z
    .string()
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'not JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);

const quotas = { [ENV.quotas]: jsonVariable(QuotaSettingsSchema).optional() };
/** Every function that touches task data: the table, and the classifications saying what of it is sealed (absent: nothing). */
const tasks = { [ENV.tasksTable]: z.string().min(1), [ENV.classifications]: jsonVariable(ClassificationSettingsSchema).optional() };
/** The agents a function can run: built-in ones by name, and the connectors' (with their secret store). */
const agents = {
  [ENV.enabledAgents]: list,
  [ENV.connectors]: jsonVariable(ConnectorsSchema).optional(),
  [ENV.secretsFile]: z.string().min(1).optional(),
};
const workflows = {
  [ENV.workflows]: jsonVariable(z.record(z.string(), z.string().regex(/^arn:[^:]+:states:/, 'a state machine ARN'))).optional(),
};

/** The audit log: its table, and what signs (and so verifies) its digests. */
const audit = {
  [ENV.auditTable]: z.string().min(1),
  [ENV.auditSigningKeyArn]: z.string().regex(/^arn:[^:]+:kms:/, 'a KMS key ARN').optional(),
  [ENV.auditSigningKeyFile]: z.string().min(1).optional(),
  // Empty: none (the local cloud has no S3: its digests stay in the audit table).
  [ENV.auditDigestBucket]: z.union([z.literal(''), z.string().min(3).max(63)]).optional().transform((bucket) => bucket || undefined),
};

/** The functions that record transitions only (worker, workflow, dead-letter): the table. */
const auditTable = { [ENV.auditTable]: audit[ENV.auditTable] };

/** Each function's variables, as its composition root reads them. */
export const GatewayEnvSchema = z.object({
  ...tasks,
  ...queues,
  ...agents,
  [ENV.maxBodyBytes]: z.coerce.number().int().positive(),
  [ENV.allowedHosts]: optionalList,
  [ENV.allowedOrigins]: optionalList,
  [ENV.pullCapabilities]: optionalList,
  ...quotas,
  ...workflows,
  [ENV.authResource]: z.string().url(),
  [ENV.principalLimits]: jsonVariable(PrincipalLimitsSchema),
  [ENV.tenantRoleArn]: z.string().regex(/^arn:[^:]+:iam::/, 'an IAM role ARN').optional(),
  [ENV.policiesDir]: z.string().min(1).optional(),
  ...audit,
});
export const WorkerEnvSchema = z.object({
  ...tasks,
  ...agents,
  [ENV.maxAttempts]: z.coerce.number().int().min(1).max(10),
  [ENV.leaseMs]: z.coerce.number().int().min(1000),
  [ENV.pullCapabilities]: optionalList,
  ...quotas,
  ...workflows,
  ...auditTable,
});
/** Cognito's pre-token-generation trigger: reads only the platform's variables. */
export const PreTokenEnvSchema = z.object({});
/** The workflow function: every Task state of every workflow invokes it. */
export const WorkflowEnvSchema = z.object({ ...tasks, ...agents, ...quotas, ...workflows, ...auditTable });
export type WorkflowEnv = z.infer<typeof WorkflowEnvSchema>;
export const AuthorizerEnvSchema = z.object({
  [ENV.authResource]: z.string().url(),
  [ENV.authIssuers]: jsonVariable(z.array(IssuerSchema).min(1)),
  ...quotas,
  [ENV.usageKeySeed]: z.string().min(1).optional(),
});
const aging = Object.fromEntries(AGING_PRIORITIES.map((p) => [ENV.agingMs(p), z.coerce.number().int().min(1000)])) as Record<string, z.ZodCoercedNumber<unknown>>;
export const ReconcilerEnvSchema = z.object({ ...tasks, ...queues, ...aging, ...workflows, ...quotas, ...audit });
export const DeadLetterEnvSchema = z.object({ ...tasks, ...quotas, ...auditTable });

/** What the deep health check describes, each by the name it reports (`table:tasks`, `queue:critical`, …). */
export const HealthChecksSchema = z
  .object({
    tables: z.record(z.string(), z.string().min(1)),
    queues: z.record(z.string(), queueUrl),
    keys: z.record(z.string(), z.string().regex(/^arn:[^:]+:kms:/, 'a KMS key ARN')),
    stateMachines: z.record(z.string(), z.string().regex(/^arn:[^:]+:states:/, 'a state machine ARN')),
  })
  .strict();
export type HealthChecks = z.infer<typeof HealthChecksSchema>;
/** The health function; LOCAL ONLY, the key files that stand in for KMS keys (npm start) are checked instead of the keys. */
export const HealthEnvSchema = z.object({
  [ENV.healthChecks]: jsonVariable(HealthChecksSchema),
  [ENV.envelopeKeyFile]: z.string().min(1).optional(),
  [ENV.auditSigningKeyFile]: z.string().min(1).optional(),
});

export type GatewayEnv = z.infer<typeof GatewayEnvSchema>;
export type WorkerEnv = z.infer<typeof WorkerEnvSchema>;
export type AuthorizerEnv = z.infer<typeof AuthorizerEnvSchema>;
export type ReconcilerEnv = z.infer<typeof ReconcilerEnvSchema>;
export type DeadLetterEnv = z.infer<typeof DeadLetterEnvSchema>;

/** Parses a function's environment, failing fast with the name of each bad variable. */
export const readEnv = <S extends z.ZodType>(schema: S, env: Env): z.infer<S> => {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const names = parsed.error.issues.map((issue) => `${issue.path.join('.')} (${issue.message})`);
    throw new Error(`invalid configuration: ${names.join('; ')}`);
  }
  return parsed.data;
};

/** The queue URL of each priority, from a parsed environment that carries them. */
export const queueUrlsOf = (env: Record<string, unknown>): Record<Priority, string> =>
  Object.fromEntries(PRIORITIES.map((p) => [p, String(env[ENV.queueUrl(p)])])) as Record<Priority, string>;

/** The escalator's SLA per level, from a parsed environment that carries them. */
export const agingMsOf = (env: Record<string, unknown>): Record<Exclude<Priority, 'critical'>, number> =>
  Object.fromEntries(AGING_PRIORITIES.map((p) => [p, Number(env[ENV.agingMs(p)])])) as Record<Exclude<Priority, 'critical'>, number>;

/**
 * The authorizer's variables, from the resolved auth settings (what the CDK app sets). `toJson`:
 * the stack's token-aware JSON (Cognito's issuer and client ids are deploy-time values).
 */
export const authEnvironment = (auth: ResolvedAuth, toJson: (value: unknown) => string = JSON.stringify): Record<string, string> => ({
  [ENV.authResource]: auth.resource,
  [ENV.authIssuers]: toJson(auth.issuers),
});

/** The resolved auth settings, back from the authorizer's parsed variables (what the function reads). */
export const authSettingsOf = (env: AuthorizerEnv): ResolvedAuth => ({
  resource: env[ENV.authResource],
  issuers: env[ENV.authIssuers],
});
