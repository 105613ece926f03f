import { Aws, Duration, RemovalPolicy, type App, type Environment } from 'aws-cdk-lib';
import { AGENT_MANIFESTS, ENV, PRIORITIES } from '../lambdas/contracts';
import { DeepHealthCheck } from './constructs/health-check';
import { ObservabilityStack } from './stacks/observability-stack';

/** The oldest critical task's age above which its queue alarms, unless alarms.queueAgeSeconds.critical says (critical is never promoted, so it has no aging SLA). */
const DEFAULT_CRITICAL_AGE_SECONDS = 60;
import { addCompliancePacks } from './nag';
import type { SwitchboardConfig } from './config';
import { applyNagSuppressions } from './nag-suppressions';
import { ApiStack } from './stacks/api-stack';
import { AuditStack } from './stacks/audit-stack';
import { IdentityStack } from './stacks/identity-stack';
import { MessagingStack } from './stacks/messaging-stack';
import { StatefulStack } from './stacks/stateful-stack';
import { DrStack, drArns } from './stacks/dr-stack';
import { acknowledgeDisasterRecovery } from './nag-suppressions';
import { WorkflowsStack } from './stacks/workflows-stack';
import { loadWorkflows } from './workflows';
import { AccessPolicyStore } from './constructs/access-policies';
import { loadAccessPolicies } from './policies';
import { bindConnectors } from './constructs/connectors';
import { resolve } from 'node:path';
import { PROJECT_ROOT } from './constructs/switchboard-function';

export interface SwitchboardStacks {
  stateful: StatefulStack;
  workflows: WorkflowsStack;
  messaging: MessagingStack;
  api: ApiStack;
}

/** The stacks, and the Cognito user pool's when config auth.cognito is set. */
export type SwitchboardApp = SwitchboardStacks & { identity?: IdentityStack; audit: AuditStack; observability: ObservabilityStack };

/**
 * The capabilities the connectors offer that are known before anything runs (an HTTP API's
 * allow-listed operations, the LLM steps); a downstream MCP server's are discovered when the
 * functions start, so a workflow may name any `<server>.<tool>` of a configured server.
 */
const connectorCapabilities = (connectors: SwitchboardConfig['connectors']): string[] => [
  ...connectors.llm.map((llm) => llm.name),
  ...connectors.mcpServers.map((server) => `${server.name}.*`),
  ...connectors.http.flatMap((http) => http.operations.map((op) => `${http.name}.${op.toLowerCase().replace(/[^a-z0-9_.-]/g, '_')}`)),
];

/** Composes Switchboard's stacks for the primary region into `app`. */
export const buildSwitchboard = (app: App, config: SwitchboardConfig): SwitchboardApp => {
  // The access policies the gateway ships: a malformed file fails synth here, naming file:line.
  const policiesDir = resolve(PROJECT_ROOT, config.policiesDir);
  const policies = loadAccessPolicies(policiesDir);
  const env: Environment = { region: config.primaryRegion, ...(config.account ? { account: config.account } : {}) };
  const removalPolicy = config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
  const name = (part: string) => `${config.appName}-${part}`;

  // Backup and DR (docs/disaster-recovery.md): the primary stacks name the DR region's vault, buckets and keys by
  // ARNs built from config (exports do not cross regions), so none of them reads an output of the DR stack.
  const dr = config.dr;
  const drArn = dr && drArns(config.appName, dr.region, { partition: Aws.PARTITION, account: config.account ?? Aws.ACCOUNT_ID });
  const statefulDr = dr && drArn
    ? {
        backup: { schedule: dr.backup.schedule, retentionDays: dr.backup.retentionDays, copy: { vaultArn: drArn.vault, retentionDays: dr.backup.copyRetentionDays }, lock: dr.vaultLock },
        ...(dr.replicas ? { replica: { region: dr.region, keyArn: drArn.tablesKeyAlias } } : {}),
      }
    : {};
  const stateful = new StatefulStack(app, name('Stateful'), { env, removalPolicy, classifications: config.classifications, terminationProtection: config.removalPolicy === 'retain', ...statefulDr });
  const agents = config.agents.map((name) => AGENT_MANIFESTS[name]);
  const workflows = new WorkflowsStack(app, name('Workflows'), {
    env,
    key: stateful.key,
    tasks: stateful.tasks,
    agents,
    definitions: loadWorkflows(resolve(PROJECT_ROOT, config.workflowsDir), {
      capabilities: [...config.agents, ...connectorCapabilities(config.connectors), ...config.pullCapabilities],
    }),
    quotas: config.quotas,
    pullCapabilities: config.pullCapabilities,
    removalPolicy,
    dataKeys: stateful.dataKeys,
  });
  const messaging = new MessagingStack(app, name('Messaging'), {
    env,
    key: stateful.key,
    tasks: stateful.tasks,
    agents,
    workerTimeout: Duration.seconds(config.worker.timeoutSeconds),
    batchSize: config.worker.batchSize,
    concurrency: config.worker.concurrency,
    maxAttempts: config.worker.maxAttempts,
    lease: Duration.seconds(config.worker.leaseSeconds),
    aging: {
      high: Duration.seconds(config.worker.agingSeconds.high),
      normal: Duration.seconds(config.worker.agingSeconds.normal),
      low: Duration.seconds(config.worker.agingSeconds.low),
    },
    quotas: config.quotas,
    removalPolicy,
    dataKeys: stateful.dataKeys,
  });
  const cognito = config.auth.cognito;
  const identity = cognito
    ? new IdentityStack(app, name('Identity'), { env, cognito, removalPolicy, logKey: stateful.key, terminationProtection: config.removalPolicy === 'retain' })
    : undefined;
  const api = new ApiStack(app, name('Api'), {
    ...(identity ? { identity: identity.issuer } : {}),
    env,
    tasks: stateful.tasks,
    queues: messaging.queues,
    auth: config.auth,
    policiesDir,
    api: config.api,
    quotas: config.quotas,
    agents: config.agents,
    removalPolicy,
    dataKeys: stateful.dataKeys,
    logKey: stateful.key,
  });

  if (config.verifiedPermissions) new AccessPolicyStore(api, 'AccessPolicies', { policies, removalPolicy });

  workflows.bind(messaging.worker, 'start');
  // The reconciler resumes runs whose execution ended unrecorded (start) and describes executions (control).
  workflows.bind(messaging.reconciler, 'start');
  workflows.bind(messaging.reconciler, 'control');
  workflows.bind(api.gateway, 'control');
  for (const fn of [api.gateway, messaging.worker, workflows.function]) bindConnectors(fn, config.connectors);
  // External agents' capabilities: the gateway accepts and hands out their tasks, the worker leaves them alone.
  if (config.pullCapabilities.length) for (const fn of [api.gateway, messaging.worker]) fn.addEnvironment(ENV.pullCapabilities, config.pullCapabilities.join(','));
  // Auditors' trail: references the Stateful stack only (the tables' ARNs; functions by their stacks' name
  // prefixes), so the stacks of functions may later use its digest bucket and signing key without a cycle.
  const audit = new AuditStack(app, name('Audit'), {
    env,
    retentionDays: config.audit.retentionDays,
    lakeRetentionDays: config.audit.lakeRetentionDays,
    tables: [stateful.tasks.table, stateful.audit.table],
    functionNamePrefixes: [workflows, messaging, api, ...(identity ? [identity] : [])].map((stack) => `${stack.stackName}-`),
    removalPolicy,
    terminationProtection: config.removalPolicy === 'retain',
    ...(dr && drArn
      ? { replication: { region: dr.region, trailBucketArn: drArn.trailBucket, digestBucketArn: drArn.digestBucket, replicaKeyAliasArn: drArn.auditReplicaKeyAlias } }
      : {}),
  });
  // The DR region's stack (not returned: what buildSwitchboard returns runs in the primary region, and npm start provisions it).
  const drStack = dr
    ? new DrStack(app, name('DR'), {
        env: { region: dr.region, ...(config.account ? { account: config.account } : {}) },
        appName: config.appName,
        primaryRegion: config.primaryRegion,
        dataKeyAliasPrefix: stateful.dataKeys.aliasPrefix,
        multiRegionLevels: Object.keys(stateful.dataKeys.multiRegionKeyArns),
        copyRetentionDays: dr.backup.copyRetentionDays,
        lock: dr.vaultLock,
        auditRetentionDays: config.audit.retentionDays,
        tableReplicas: dr.replicas,
        terminationProtection: config.removalPolicy === 'retain',
      })
    : undefined;
  if (drStack) {
    // Deploy order: the data keys (looked up by alias) before their replicas; the replica buckets before the audit
    // buckets replicate to them. With table replicas the Stateful stack needs the DR stack's table key instead, so
    // no order is declared between those two (docs/disaster-recovery.md: replicas are turned on once the DR stack exists).
    if (!dr?.replicas) drStack.addStackDependency(stateful, 'replica keys of the multi-region data keys');
    audit.addStackDependency(drStack, 'the audit buckets replicate to the DR buckets');
    applyNagSuppressions(drStack);
    acknowledgeDisasterRecovery(drStack);
  }
  // The audit log (docs/audit.md): the gateway records every tool call and offers verify/query to auditors;
  // the reconciler completes open intents and signs the chains' digests.
  stateful.audit.bind(api.gateway, 'append');
  stateful.audit.bind(messaging.reconciler, 'append');
  // Transitions made outside tool calls: the worker, the workflow function, the dead-letter handler.
  for (const fn of [messaging.worker, workflows.function, messaging.deadLetter]) stateful.audit.bind(fn, 'append');
  audit.audit.bindDigestSigning(api.gateway, 'verify');
  audit.audit.bindDigestSigning(messaging.reconciler, 'sign');
  // The deep health check (GET /healthz/deep, operators) and the alarms and dashboard (docs/operations.md).
  const queueSet = messaging.queues;
  const health = new DeepHealthCheck(api, 'DeepHealth', {
    tables: { tasks: stateful.tasks.table, audit: stateful.audit.table },
    queues: Object.fromEntries(PRIORITIES.flatMap((p) => [[p, queueSet.queues[p]], [`${p}-dlq`, queueSet.deadLetterQueues[p]]])),
    keys: { platform: stateful.key, ...Object.fromEntries(Object.entries(stateful.dataKeys.keys).map(([level, key]) => [`data-${level}`, key])), 'audit-signing': audit.audit.digestSigningKey },
    stateMachines: Object.fromEntries([...workflows.workflows].map(([name, workflow]) => [name, workflow.stateMachine])),
    removalPolicy,
    logEncryptionKey: stateful.key,
  });
  api.mcpApi.addDeepHealth(health.function);
  const functions = { gateway: api.gateway, worker: messaging.worker, reconciler: messaging.reconciler, 'dead-letter': messaging.deadLetter, workflow: workflows.function, health: health.function };
  const observability = new ObservabilityStack(app, name('Observability'), {
    env,
    queues: queueSet.queues,
    deadLetterQueues: queueSet.deadLetterQueues,
    api: api.mcpApi.api,
    functions,
    stateMachines: Object.fromEntries([...workflows.workflows].map(([name, workflow]) => [name, workflow.stateMachine])),
    auditLogs: { reconciler: messaging.reconciler.logGroup, transitions: [api.gateway, messaging.worker, messaging.reconciler, messaging.deadLetter, workflows.function].map((fn) => fn.logGroup) },
    routingLogs: [api.gateway, messaging.worker, workflows.function].map((fn) => fn.logGroup),
    thresholds: {
      deadLetterMessages: config.alarms.deadLetterMessages,
      queueAgeSeconds: {
        critical: config.alarms.queueAgeSeconds.critical ?? DEFAULT_CRITICAL_AGE_SECONDS,
        high: config.alarms.queueAgeSeconds.high ?? config.worker.agingSeconds.high,
        normal: config.alarms.queueAgeSeconds.normal ?? config.worker.agingSeconds.normal,
        low: config.alarms.queueAgeSeconds.low ?? config.worker.agingSeconds.low,
      },
      api5xxPercent: config.alarms.api5xxPercent,
      lambdaErrors: config.alarms.lambdaErrors,
      lambdaThrottles: config.alarms.lambdaThrottles,
      failedExecutions: config.alarms.failedExecutions,
    },
    emails: config.alarms.emails,
    removalPolicy,
  });
  for (const stack of [stateful, workflows, messaging, api, audit, observability, ...(identity ? [identity] : [])]) applyNagSuppressions(stack);
  addCompliancePacks(app, ['AwsSolutions']);
  return { stateful, workflows, messaging, api, audit, observability, ...(identity ? { identity } : {}) };
};
