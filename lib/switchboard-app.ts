import { Duration, RemovalPolicy, type App, type Environment } from 'aws-cdk-lib';
import { AGENT_MANIFESTS, ENV } from '../lambdas/contracts';
import { addCompliancePacks } from './nag';
import type { SwitchboardConfig } from './config';
import { applyNagSuppressions } from './nag-suppressions';
import { ApiStack } from './stacks/api-stack';
import { AuditStack } from './stacks/audit-stack';
import { IdentityStack } from './stacks/identity-stack';
import { MessagingStack } from './stacks/messaging-stack';
import { StatefulStack } from './stacks/stateful-stack';
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
export type SwitchboardApp = SwitchboardStacks & { identity?: IdentityStack; audit: AuditStack };

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

  const stateful = new StatefulStack(app, name('Stateful'), { env, removalPolicy, classifications: config.classifications, terminationProtection: config.removalPolicy === 'retain' });
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
  });
  // The audit log (docs/audit.md): the gateway records every tool call and offers verify/query to auditors;
  // the reconciler completes open intents and signs the chains' digests.
  stateful.audit.bind(api.gateway, 'append');
  stateful.audit.bind(messaging.reconciler, 'append');
  // Transitions made outside tool calls: the worker, the workflow function, the dead-letter handler.
  for (const fn of [messaging.worker, workflows.function, messaging.deadLetter]) stateful.audit.bind(fn, 'append');
  audit.audit.bindDigestSigning(api.gateway, 'verify');
  audit.audit.bindDigestSigning(messaging.reconciler, 'sign');
  for (const stack of [stateful, workflows, messaging, api, audit, ...(identity ? [identity] : [])]) applyNagSuppressions(stack);
  addCompliancePacks(app, ['AwsSolutions']);
  return { stateful, workflows, messaging, api, audit, ...(identity ? { identity } : {}) };
};
