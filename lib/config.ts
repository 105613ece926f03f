import * as z from 'zod';
import { AuthSettingsSchema, BUILT_IN_AGENT_NAMES, ConnectorsSchema, NO_CONNECTORS, QuotaSettingsSchema, type BuiltInAgentName } from '../lambdas/contracts';
import { LLM_CAPABILITY_NAME } from '../lambdas/contracts/llm';
import { LAKE_RETENTION_DAYS, OBJECT_LOCK_MAX_DAYS } from './constructs/audit-trail';
import { ClassificationSettingsSchema, DEFAULT_CLASSIFICATIONS } from '../lambdas/contracts/classification';

const RegionSchema = z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'an AWS region such as us-east-1');

/** Lambda's bounds for an SQS event source mapping's ScalingConfig.MaximumConcurrency. */
const ConcurrencyBudget = z.number().int().min(2).max(1000);

/** An escalator SLA: at least one schedule tick, at most a day. */
const AgingSeconds = z.number().int().min(60).max(86_400);

/** AWS Backup's bound for a retention, a vault lock's minimum or maximum (100 years). */
const BACKUP_MAX_DAYS = 36_500;
const BackupDays = z.number().int().min(1).max(BACKUP_MAX_DAYS);

/**
 * Backup and disaster recovery (docs/disaster-recovery.md): the DR region, the AWS Backup plan of
 * the tables (schedule, retention, copies into the DR region's vault), the vault lock of both vaults,
 * and whether the tables keep hot-standby replicas (DynamoDB global tables) in the DR region.
 */
export const DisasterRecoverySchema = z
  .object({
    /** Where the copies, the replica keys and buckets, and the standby live; never the primary region. */
    region: RegionSchema,
    /**
     * Replicas of the tasks and audit tables in the DR region (global tables, hot standby). Off by
     * default: turning it on for deployed tables is a migration (docs/disaster-recovery.md).
     */
    replicas: z.boolean().default(false),
    backup: z
      .object({
        /** When the plan backs the tables up: an AWS Backup cron expression (UTC). Daily at 03:00 by default. */
        schedule: z.string().regex(/^cron\((\S+ ){5}\S+\)$/, 'an AWS Backup cron expression with six fields, such as cron(0 3 * * ? *)').default('cron(0 3 * * ? *)'),
        /** Days each backup is kept in the primary region's vault. */
        retentionDays: BackupDays.default(35),
        /** Days each copy is kept in the DR region's vault. */
        copyRetentionDays: BackupDays.default(35),
      })
      .strict()
      .prefault({}),
    /**
     * AWS Backup Vault Lock on both vaults: recovery points must be kept at least `minRetentionDays`
     * (and at most `maxRetentionDays`). Without `changeableForDays` the lock is in governance mode
     * (removable by a privileged user); with it, compliance mode: after that many days (at least 3)
     * nobody, root included, can change or remove the lock.
     */
    vaultLock: z
      .object({
        minRetentionDays: BackupDays.default(7),
        maxRetentionDays: BackupDays.default(3653),
        changeableForDays: z.number().int().min(3).max(BACKUP_MAX_DAYS).optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((dr, ctx) => {
    const { minRetentionDays: min, maxRetentionDays: max } = dr.vaultLock;
    if (min > max) ctx.addIssue({ code: 'custom', path: ['vaultLock', 'minRetentionDays'], message: `${min} exceeds maxRetentionDays ${max}` });
    for (const key of ['retentionDays', 'copyRetentionDays'] as const) {
      const days = dr.backup[key];
      if (days < min || days > max) ctx.addIssue({ code: 'custom', path: ['backup', key], message: `${days} days is outside the vault lock's ${min}–${max} days (the vault would refuse the recovery points)` });
    }
  });
export type DisasterRecoverySettings = z.infer<typeof DisasterRecoverySchema>;

/** The `switchboard` key of cdk.json context: validated once, at the app's entry. */
export const SwitchboardConfigSchema = z
  .object({
    appName: z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,30}$/, 'letters and digits, starting with a letter'),
    primaryRegion: RegionSchema,
    /** Downstream MCP servers, HTTP APIs (OpenAPI) and LLM steps whose capabilities agents offer (docs/agents.md). */
    connectors: ConnectorsSchema.default(NO_CONNECTORS),
    /** The folder of the workflow definitions (*.yaml), relative to the project (or absolute). */
    workflowsDir: z.string().min(1).default('lib/workflows'),
    /** The folder of the access policies (Cedar schema, platform.cedar, tenants/*.cedar), relative to the project (or absolute). */
    policiesDir: z.string().min(1).default('lib/policies'),
    /** Also sync the access policies to an Amazon Verified Permissions policy store (the gateway still decides in-process). */
    verifiedPermissions: z.boolean().default(false),
    account: z.string().regex(/^\d{12}$/).optional(),
    auth: AuthSettingsSchema,
    api: z
      .object({
        throttlingRateLimit: z.number().positive().max(10_000),
        throttlingBurstLimit: z.number().int().positive().max(5_000),
        maxRequestBodyBytes: z.number().int().min(1024).max(6 * 1024 * 1024),
        /** Origins a browser-based MCP client may call from (Origin header); none by default. */
        allowedOrigins: z.array(z.string().url()).optional(),
        /**
         * A WAFv2 web ACL on the stage with a rate-based rule: requests per client IP per five
         * minutes (WAF's window) beyond which that IP is blocked. On by default.
         */
        waf: z
          .object({
            enabled: z.boolean().default(true),
            ratePerFiveMinutes: z.number().int().min(100).max(2_000_000_000).default(3000),
          })
          .strict()
          .default({ enabled: true, ratePerFiveMinutes: 3000 }),
      })
      .strict(),
    /** Per-tenant submit quotas by tier, enforced in DynamoDB across every gateway instance. */
    quotas: QuotaSettingsSchema,
    worker: z
      .object({
        timeoutSeconds: z.number().int().min(5).max(900),
        batchSize: z.number().int().min(1).max(10),
        maxAttempts: z.number().int().min(1).max(10),
        /**
         * How long a worker's claim on a task (and on its queue message) holds without a
         * heartbeat: a worker that dies frees its task after at most this. Renewed every third.
         */
        leaseSeconds: z.number().int().min(3).max(300).default(10),
        /**
         * Per priority, how many worker invocations its queue may keep running at once (the event
         * source mapping's maximum concurrency, 2–1000): a flood of one priority uses its own
         * budget only. PriorityQueues checks the weights (critical ≥ high ≥ normal ≥ low).
         */
        concurrency: z
          .object({ critical: ConcurrencyBudget, high: ConcurrencyBudget, normal: ConcurrencyBudget, low: ConcurrencyBudget })
          .strict(),
        /**
         * Per level below critical, the seconds a queued task may wait there before the escalator
         * (with the reconciler, every minute) moves it one level up; also how near a deadline must be.
         */
        agingSeconds: z
          .object({ high: AgingSeconds, normal: AgingSeconds, low: AgingSeconds })
          .strict()
          .default({ high: 60, normal: 300, low: 900 }),
      })
      .strict()
      .refine((worker) => worker.leaseSeconds <= worker.timeoutSeconds, {
        message: 'leaseSeconds must not exceed timeoutSeconds',
        path: ['leaseSeconds'],
      }),
    agents: z
      .array(z.string())
      .min(1)
      .refine((names) => names.every((n) => (BUILT_IN_AGENT_NAMES as readonly string[]).includes(n)), {
        message: `every agent must be built in: ${BUILT_IN_AGENT_NAMES.join(', ')}`,
      })
      .transform((names) => names as BuiltInAgentName[]),
    /**
     * Capabilities whose tasks external agents claim over MCP (claim_task, role agent): submit accepts
     * them with any JSON input, the worker never runs them. None by default.
     */
    pullCapabilities: z
      .array(z.string().regex(LLM_CAPABILITY_NAME, 'a capability: lower-case letters, digits, _ . -'))
      .max(50)
      .default([]),
    /**
     * Data classification (lambdas/contracts/classification.ts): `levels` least to most sensitive,
     * one KMS key each; `default` for capabilities not in `capabilities` (capability → level);
     * `sensitive` levels are envelope-encrypted (default: all but the first); `multiRegion` levels
     * get multi-region keys the DR region can decrypt with (default: the sensitive ones).
     */
    classifications: ClassificationSettingsSchema.prefault(DEFAULT_CLASSIFICATIONS),
    /**
     * Auditors' records on AWS (lib/constructs/audit-trail.ts): `retentionDays` every CloudTrail log
     * file and audit digest stays locked (S3 Object Lock, COMPLIANCE: nobody can delete it sooner);
     * `lakeRetentionDays` the CloudTrail Lake store keeps events (7–3653; default: retentionDays within those bounds).
     * Seven years by default (SOX).
     */
    audit: z
      .object({
        retentionDays: z.number().int().min(1).max(OBJECT_LOCK_MAX_DAYS),
        lakeRetentionDays: z.number().int().min(LAKE_RETENTION_DAYS.min).max(LAKE_RETENTION_DAYS.max).optional(),
      })
      .strict()
      .default({ retentionDays: 2557 }),
    /**
     * CloudWatch alarms (lib/constructs/observability.ts, docs/operations.md), to one SNS topic.
     * `queueAgeSeconds`: the oldest message's age per priority above which its queue alarms
     * (default: worker.agingSeconds for high/normal/low, 60 s for critical).
     */
    alarms: z
      .object({
        /** Also email the alarms to these addresses (the topic is created either way). */
        emails: z.array(z.string().email()).max(10).default([]),
        /** Messages in a dead-letter queue above which it alarms (0: any). */
        deadLetterMessages: z.number().int().min(0).max(100_000).default(0),
        queueAgeSeconds: z
          .object({ critical: z.number().int().min(60).max(86_400), high: AgingSeconds, normal: AgingSeconds, low: AgingSeconds })
          .partial()
          .strict()
          .default({}),
        /** API 5xx responses as a percentage of requests over 5 minutes. */
        api5xxPercent: z.number().positive().max(100).default(1),
        /** Lambda errors per function per 5 minutes above which it alarms. */
        lambdaErrors: z.number().int().min(0).max(100_000).default(0),
        /** Lambda throttles per function per 5 minutes above which it alarms. */
        lambdaThrottles: z.number().int().min(0).max(100_000).default(0),
        /** Failed (or timed-out, aborted) executions per state machine per 5 minutes above which it alarms. */
        failedExecutions: z.number().int().min(0).max(100_000).default(0),
      })
      .strict()
      .default({ emails: [], deadLetterMessages: 0, queueAgeSeconds: {}, api5xxPercent: 1, lambdaErrors: 0, lambdaThrottles: 0, failedExecutions: 0 }),
    removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
    /** Backup and disaster recovery; absent: no backup plan, no DR stack (docs/disaster-recovery.md). */
    dr: DisasterRecoverySchema.optional(),
  })
  .strict()
  .refine((config) => config.dr?.region !== config.primaryRegion, {
    message: 'must differ from primaryRegion (a disaster takes the whole region)',
    path: ['dr', 'region'],
  })
  .refine((config) => !config.pullCapabilities.some((capability) => (config.agents as readonly string[]).includes(capability)), {
    message: 'a pull capability must not be an enabled agent (the worker would never run it)',
    path: ['pullCapabilities'],
  });

export type SwitchboardConfig = z.infer<typeof SwitchboardConfigSchema>;

/** Parses the context value, failing with the path of every bad key. */
export const parseConfig = (raw: unknown): SwitchboardConfig => {
  const parsed = SwitchboardConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `switchboard.${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid cdk.json context:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
};
