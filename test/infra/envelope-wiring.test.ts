import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCdkContext } from '../../bin/local-cloud/synth';
import { parseConfig } from '../../lib/config';
import { buildSwitchboard, type SwitchboardApp } from '../../lib/switchboard-app';

/**
 * The envelope encryption's wiring, the log groups' key and TLS, over one synth of the whole app
 * (config from cdk.json, `echo` mapped to `restricted` so the example workflows' runs are sensitive).
 */
const context = readCdkContext();
const base = context['switchboard'] as Record<string, unknown>;
const config = parseConfig({
  ...base,
  classifications: { ...(base['classifications'] as object), capabilities: { echo: 'restricted' } },
});

type Resource = { Type: string; Properties?: Record<string, unknown> };
type Statement = { Effect: string; Action: string | string[]; Resource?: unknown; Condition?: Record<string, Record<string, unknown>>; Principal?: { Service?: unknown } };

let app: App;
let stacks: SwitchboardApp;
let templates: Map<string, Record<string, Resource>>;
beforeAll(() => {
  app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  stacks = buildSwitchboard(app, config);
  templates = new Map(
    app.node.children.filter((c): c is Stack => c instanceof Stack).map((stack) => [stack.stackName, Template.fromStack(stack).toJSON()['Resources'] as Record<string, Resource>]),
  );
});

const resourcesOf = (stack: Stack) => templates.get(stack.stackName)!;
/** The function whose logical id starts with `prefix` in `stack`: its environment variables. */
const environmentOf = (stack: Stack, prefix: string): Record<string, unknown> => {
  const found = Object.entries(resourcesOf(stack)).filter(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith(prefix));
  expect(found.map(([id]) => id), prefix).toHaveLength(1);
  return ((found[0]![1].Properties!['Environment'] as { Variables: Record<string, unknown> }).Variables);
};
/** The statements of the policies attached to the role whose logical id starts with `rolePrefix`. */
const statementsOf = (stack: Stack, rolePrefix: string): Statement[] =>
  Object.values(resourcesOf(stack))
    .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties!['Roles']).includes(`"${rolePrefix}`))
    .flatMap((r) => (r.Properties!['PolicyDocument'] as { Statement: Statement[] }).Statement);
const dataKeyStatements = (statements: Statement[]) =>
  statements.filter((s) => JSON.stringify(s.Condition ?? {}).includes('kms:EncryptionContext:classification'));

describe('envelope encryption wiring', () => {
  const touching = () => [
    { stack: stacks.messaging, fn: 'Worker', role: 'WorkerServiceRole' },
    { stack: stacks.messaging, fn: 'DeadLetterHandler', role: 'DeadLetterHandlerServiceRole' },
    { stack: stacks.messaging, fn: 'Reconciler', role: 'ReconcilerServiceRole' },
    { stack: stacks.workflows, fn: 'WorkflowFunction', role: 'WorkflowFunctionServiceRole' },
    { stack: stacks.api, fn: 'McpGateway', role: 'McpGatewayServiceRole' },
  ];

  it('gives every function that touches task data CLASSIFICATIONS and the data keys of the sensitive levels only, the authorizer neither', () => {
    for (const { stack, fn } of touching()) {
      const variables = environmentOf(stack, fn);
      expect(Object.keys(variables).filter((name) => name.startsWith('DATA_KEY_ARN_')).sort(), fn).toEqual(['DATA_KEY_ARN_CONFIDENTIAL', 'DATA_KEY_ARN_RESTRICTED']);
      const settings = JSON.parse(String(variables['CLASSIFICATIONS'])) as { sensitive: string[]; capabilities: Record<string, string> };
      expect(settings.sensitive, fn).toEqual(['confidential', 'restricted']);
    }
    const authorizer = environmentOf(stacks.api, 'Authorizer');
    expect(Object.keys(authorizer).filter((name) => name === 'CLASSIFICATIONS' || name.startsWith('DATA_KEY_ARN_'))).toEqual([]);
  });

  it('gives each workflow\'s run the most sensitive level of its steps (echo is restricted here, so both example workflows are)', () => {
    const settings = JSON.parse(String(environmentOf(stacks.workflows, 'WorkflowFunction')['CLASSIFICATIONS'])) as { capabilities: Record<string, string> };

    expect(settings.capabilities).toMatchObject({ echo: 'restricted', 'workflow.triage': 'restricted', 'workflow.purchase-approval': 'restricted' });
    expect(JSON.parse(String(environmentOf(stacks.api, 'McpGateway')['CLASSIFICATIONS']))).toEqual(settings);
  });

  it('grants the worker, dead-letter handler, reconciler and workflow function GenerateDataKey and Decrypt on the sensitive keys, only with the full context', () => {
    for (const { stack, role } of touching().filter((t) => t.fn !== 'McpGateway')) {
      const statements = dataKeyStatements(statementsOf(stack, role));
      expect(statements.map((s) => s.Condition!['StringEquals']!['kms:EncryptionContext:classification']).sort(), role).toEqual(['confidential', 'restricted']);
      for (const statement of statements) {
        expect([statement.Action].flat().sort(), role).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
        expect(statement.Condition!['ForAllValues:StringEquals'], role).toEqual({ 'kms:EncryptionContextKeys': ['tenant', 'task', 'classification'] });
        expect(statement.Condition!['StringLike'], role).toEqual({ 'kms:EncryptionContext:tenant': '?*', 'kms:EncryptionContext:task': '?*' });
      }
    }
  });

  it('gives the gateway\'s own role no data key, and the tenant-scoped role the keys only with its session\'s tenant in the context', () => {
    expect(dataKeyStatements(statementsOf(stacks.api, 'McpGatewayServiceRole'))).toEqual([]);

    const statements = dataKeyStatements(statementsOf(stacks.api, 'TenantScopedAccessRole'));

    expect(statements).toHaveLength(2);
    for (const statement of statements) {
      expect(statement.Condition!['StringEquals']!['kms:EncryptionContext:tenant']).toBe('${aws:PrincipalTag/tenant}');
      expect(statement.Condition!['StringLike']).toEqual({ 'kms:EncryptionContext:task': '?*' });
    }
  });
});

describe('log groups on the customer-managed key', () => {
  it('encrypts every log group of every stack with a KMS key (the Cognito trigger\'s too, when there is one)', () => {
    const unencrypted: string[] = [];
    let checked = 0;
    for (const [stackName, resources] of templates) {
      for (const [id, resource] of Object.entries(resources)) {
        if (resource.Type !== 'AWS::Logs::LogGroup') continue;
        checked += 1;
        if (resource.Properties?.['KmsKeyId'] === undefined) unencrypted.push(`${stackName}/${id}`);
      }
    }
    expect(checked).toBeGreaterThanOrEqual(8);
    expect(unencrypted).toEqual([]);
  });

  it('lets CloudWatch Logs use the platform key only for this account\'s log groups in this region (the log-group encryption context)', () => {
    const keys = Object.entries(resourcesOf(stacks.stateful)).filter(([id, r]) => r.Type === 'AWS::KMS::Key' && id.startsWith('PlatformKey'));
    const statements = (keys[0]![1].Properties!['KeyPolicy'] as { Statement: Statement[] }).Statement;

    const logs = statements.filter((s) => JSON.stringify(s.Principal?.Service ?? '').includes('logs.'));

    expect(logs).toHaveLength(1);
    expect(JSON.stringify(logs[0]!.Condition)).toContain('kms:EncryptionContext:aws:logs:arn');
    expect(JSON.stringify(logs[0]!.Condition)).toContain(':log-group:*');
  });
});

describe('TLS on every bucket and queue', () => {
  /** Whether a resource policy denies every request made without TLS to `id`. */
  const deniesPlainHttp = (policies: Resource[], id: string, targetKey: 'Bucket' | 'Queues') =>
    policies.some(
      (policy) =>
        JSON.stringify(policy.Properties![targetKey]).includes(`"${id}"`) &&
        (policy.Properties!['PolicyDocument'] as { Statement: Record<string, unknown>[] }).Statement.some(
          (s) => s['Effect'] === 'Deny' && JSON.stringify(s['Condition']) === JSON.stringify({ Bool: { 'aws:SecureTransport': 'false' } }),
        ),
    );

  it('denies plain HTTP on every S3 bucket and every SQS queue of every stack', () => {
    const missing: string[] = [];
    let checked = 0;
    for (const [stackName, resources] of templates) {
      const all = Object.entries(resources);
      const bucketPolicies = all.filter(([, r]) => r.Type === 'AWS::S3::BucketPolicy').map(([, r]) => r);
      const queuePolicies = all.filter(([, r]) => r.Type === 'AWS::SQS::QueuePolicy').map(([, r]) => r);
      for (const [id, r] of all) {
        if (r.Type === 'AWS::S3::Bucket') {
          checked += 1;
          if (!deniesPlainHttp(bucketPolicies, id, 'Bucket')) missing.push(`${stackName}/${id}`);
        }
        if (r.Type === 'AWS::SQS::Queue') {
          checked += 1;
          if (!deniesPlainHttp(queuePolicies, id, 'Queues')) missing.push(`${stackName}/${id}`);
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(8);
    expect(missing).toEqual([]);
  });
});
