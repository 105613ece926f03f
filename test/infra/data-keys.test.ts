import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { ClassificationSettingsSchema } from '../../lambdas/contracts/classification';
import { readCdkContext } from '../../bin/local-cloud/synth';
import { parseConfig } from '../../lib/config';
import { DataKeys } from '../../lib/constructs/data-keys';
import { SwitchboardFunction } from '../../lib/constructs/switchboard-function';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { StatefulStack } from '../../lib/stacks/stateful-stack';
import { applyNagSuppressions } from '../../lib/nag-suppressions';
import { addCompliancePacks } from '../../lib/nag';

const context = readCdkContext();
const config = parseConfig(context['switchboard']);

let stateful: Template;
let statefulStack: Stack;

// The Stateful stack alone, as the app builds it (same id, config and nag packs): what these tests read.
// The app-wide assertions (TLS, log groups, the functions' grants) are in envelope-wiring.test.ts.
beforeAll(() => {
  const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  statefulStack = new StatefulStack(app, `${config.appName}-Stateful`, {
    env: { region: config.primaryRegion },
    removalPolicy: RemovalPolicy.RETAIN,
    classifications: config.classifications,
  });
  applyNagSuppressions(statefulStack);
  addCompliancePacks(app, ['AwsSolutions']);
  stateful = Template.fromStack(statefulStack);
});

type Resource = { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string };
const dataKeysOf = (template: Template) =>
  Object.entries(template.findResources('AWS::KMS::Key') as Record<string, Resource>).filter(([id]) => id.startsWith('DataKeys'));

describe('data keys per classification (Stateful stack)', () => {
  it('has one rotating, retained key per level, multi-region for confidential and restricted only, each with its alias', () => {
    const byDescription: Record<string, Resource> = Object.fromEntries(dataKeysOf(stateful).map(([, key]) => [String(key.Properties!['Description']).split(' ')[4], key] as const));

    expect(Object.keys(byDescription).sort()).toEqual(['confidential', 'internal', 'restricted']);
    for (const [level, key] of Object.entries(byDescription)) {
      expect(key.Properties, level).toMatchObject({ EnableKeyRotation: true, MultiRegion: level !== 'internal' });
      expect(key.DeletionPolicy, level).toBe('Retain');
    }
    for (const level of ['internal', 'confidential', 'restricted']) {
      stateful.hasResourceProperties('AWS::KMS::Alias', { AliasName: `alias/Switchboard-Stateful/data/${level}` });
    }
  });

  it('keeps the Stateful stack free of unacknowledged cdk-nag findings', () => {
    const findings = [...Annotations.fromStack(statefulStack).findError('*', Match.anyValue()), ...Annotations.fromStack(statefulStack).findWarning('*', Match.anyValue())];

    expect(findings.map((f) => `${f.id}: ${String(f.entry.data).slice(0, 120)}`)).toEqual([]);
  });

  it('pins the logical ids of the data keys (renaming one would replace the key and strand its ciphertexts)', () => {
    expect(dataKeysOf(stateful).map(([id]) => id).sort()).toEqual(['DataKeysConfidentialC2DB1BE3', 'DataKeysInternal0295EC7D', 'DataKeysRestricted59A8C073']);
  });
});

describe('DataKeys', () => {
  const build = (overrides: Record<string, unknown> = {}) => {
    const stack = new Stack(new App(), 'Test');
    const keys = new DataKeys(stack, 'DataKeys', {
      classifications: ClassificationSettingsSchema.parse({ levels: ['internal', 'pii'], default: 'internal' }),
      aliasPrefix: 'alias/test/data',
      removalPolicy: RemovalPolicy.DESTROY,
      ...overrides,
    });
    const fn = new LambdaFunction(stack, 'Fn', { runtime: Runtime.NODEJS_24_X, handler: 'index.handler', code: Code.fromInline('exports.handler=async()=>{}') });
    return { stack, keys, fn };
  };

  it('binds a function to the sensitive levels: sets DATA_KEY_ARN_<LEVEL> and grants only GenerateDataKey/Decrypt, only with the tenant/task/classification context', () => {
    const { stack, keys, fn } = build();

    keys.bindEnvelope(fn, 'seal-and-open');

    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { DATA_KEY_ARN_PII: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DataKeysPii'), 'Arn'] } } },
    });
    const statements = Object.values(template.findResources('AWS::IAM::Policy') as Record<string, Resource>).flatMap(
      (policy) => (policy.Properties!['PolicyDocument'] as { Statement: Record<string, unknown>[] }).Statement,
    );
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^DataKeysPii/), 'Arn'] },
        Condition: {
          'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['tenant', 'task', 'classification'] },
          StringLike: { 'kms:EncryptionContext:tenant': '?*', 'kms:EncryptionContext:task': '?*' },
          StringEquals: { 'kms:EncryptionContext:classification': 'pii' },
        },
      },
    ]);
    expect(JSON.stringify(template.toJSON())).not.toContain('DATA_KEY_ARN_INTERNAL');
  });

  it('sets CLASSIFICATIONS with the run level of each workflow added (the most sensitive of its steps\' levels and its own)', () => {
    const { stack, keys, fn } = build({
      classifications: ClassificationSettingsSchema.parse({ levels: ['internal', 'pii', 'secret'], default: 'internal', capabilities: { lookup: 'pii', 'workflow.audit': 'secret' } }),
    });

    keys.addWorkflows([
      { name: 'claims', capabilities: ['echo', 'lookup'] },
      { name: 'plain', capabilities: ['echo'] },
      { name: 'audit', capabilities: ['lookup'] },
    ]);
    keys.bindEnvelope(fn, 'open');

    const variables = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function') as Record<string, Resource>)[0]!.Properties!['Environment'] as { Variables: Record<string, string> };
    expect(JSON.parse(variables.Variables['CLASSIFICATIONS']!).capabilities).toEqual({
      lookup: 'pii', 'workflow.audit': 'secret', 'workflow.claims': 'pii', 'workflow.plain': 'internal',
    });
  });

  it('grants a tenant-scoped role, not the function, only with its session\'s tenant in the context', () => {
    const { stack, keys, fn } = build();
    const role = new Role(stack, 'TenantRole', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });

    keys.bindTenantScopedEnvelope(fn, role, 'tenant', 'seal-and-open');

    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: { DATA_KEY_ARN_PII: Match.anyValue(), CLASSIFICATIONS: Match.anyValue() } } });
    const policies = Object.values(template.findResources('AWS::IAM::Policy') as Record<string, Resource>);
    expect(policies).toHaveLength(1);
    expect(JSON.stringify(policies[0]!.Properties!['Roles'])).toContain('TenantRole');
    expect((policies[0]!.Properties!['PolicyDocument'] as { Statement: { Condition: unknown }[] }).Statement[0]!.Condition).toEqual({
      'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['tenant', 'task', 'classification'] },
      StringLike: { 'kms:EncryptionContext:task': '?*' },
      StringEquals: { 'kms:EncryptionContext:classification': 'pii', 'kms:EncryptionContext:tenant': '${aws:PrincipalTag/tenant}' },
    });
  });

  it('grants a sealer GenerateDataKey only and an opener Decrypt only', () => {
    const { stack, keys, fn } = build();

    keys.grantEnvelope(fn, 'pii', 'seal');
    keys.grantEnvelope(fn, 'internal', 'open');

    const actions = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy') as Record<string, Resource>).flatMap((policy) =>
      (policy.Properties!['PolicyDocument'] as { Statement: { Action: unknown }[] }).Statement.map((s) => s.Action),
    );
    expect(actions).toEqual(['kms:GenerateDataKey', 'kms:Decrypt']);
  });

  it('exposes the multi-region keys\' ARNs (what the DR region\'s replica keys will name)', () => {
    const { keys } = build();

    expect(Object.keys(keys.multiRegionKeyArns)).toEqual(['pii']);
    expect(Object.keys(keys.keyArns)).toEqual(['internal', 'pii']);
  });

  it('refuses an alias prefix outside alias/ or in the AWS-reserved alias/aws/, and a grant for an unknown level', () => {
    expect(() => build({ aliasPrefix: 'switchboard' })).toThrow('DataKeys: aliasPrefix "switchboard" must start with alias/');
    expect(() => build({ aliasPrefix: 'alias/aws/data' })).toThrow('not alias/aws/');
    const { keys, fn } = build();
    expect(() => keys.grantEnvelope(fn, 'secret', 'open')).toThrow('DataKeys: no key for level "secret" (levels: internal, pii)');
  });
});

describe('SwitchboardFunction log group encryption', () => {
  it('encrypts the log group with logEncryptionKey, and lets CloudWatch Logs of this account and region use the key, once for two functions', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Logs');
    const key = new Key(stack, 'LogsKey', { enableKeyRotation: true });

    for (const id of ['One', 'Two']) new SwitchboardFunction(stack, id, { entry: 'lambdas/worker/handler.ts', description: id, logEncryptionKey: key });

    const template = Template.fromStack(stack);
    expect(Object.values(template.findResources('AWS::Logs::LogGroup') as Record<string, Resource>).map((g) => g.Properties!['KmsKeyId'])).toEqual([
      { 'Fn::GetAtt': [expect.stringMatching(/^LogsKey/), 'Arn'] },
      { 'Fn::GetAtt': [expect.stringMatching(/^LogsKey/), 'Arn'] },
    ]);
    const statements = (Object.values(template.findResources('AWS::KMS::Key') as Record<string, Resource>)[0]!.Properties!['KeyPolicy'] as { Statement: { Principal?: { Service?: unknown } }[] }).Statement;
    expect(statements.filter((st) => JSON.stringify(st.Principal?.Service ?? '').includes('logs.'))).toHaveLength(1);
  });

  it('leaves the log group on CloudWatch\'s own encryption without a key', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Logs');

    new SwitchboardFunction(stack, 'Fn', { entry: 'lambdas/worker/handler.ts', description: 'fn' });

    Template.fromStack(stack).hasResourceProperties('AWS::Logs::LogGroup', { KmsKeyId: Match.absent() });
  });
});
