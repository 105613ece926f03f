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
import { buildSwitchboard } from '../../lib/switchboard-app';

const context = readCdkContext();
const config = parseConfig(context['switchboard']);

let app: App;
let stateful: Template;
let statefulStack: Stack;

beforeAll(() => {
  app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  statefulStack = buildSwitchboard(app, config).stateful;
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
    for (const stack of app.node.children.filter((c): c is Stack => c instanceof Stack)) {
      const template = Template.fromStack(stack);
      const bucketPolicies = Object.values(template.findResources('AWS::S3::BucketPolicy') as Record<string, Resource>);
      const queuePolicies = Object.values(template.findResources('AWS::SQS::QueuePolicy') as Record<string, Resource>);
      for (const id of Object.keys(template.findResources('AWS::S3::Bucket'))) {
        checked++;
        if (!deniesPlainHttp(bucketPolicies, id, 'Bucket')) missing.push(`${stack.stackName}/${id}`);
      }
      for (const id of Object.keys(template.findResources('AWS::SQS::Queue'))) {
        checked++;
        if (!deniesPlainHttp(queuePolicies, id, 'Queues')) missing.push(`${stack.stackName}/${id}`);
      }
    }
    expect(checked).toBeGreaterThanOrEqual(8);
    expect(missing).toEqual([]);
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

  it('leaves the log group on CloudWatch\'s own encryption without a key (what the stacks still do until they pass one)', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Logs');

    new SwitchboardFunction(stack, 'Fn', { entry: 'lambdas/worker/handler.ts', description: 'fn' });

    Template.fromStack(stack).hasResourceProperties('AWS::Logs::LogGroup', { KmsKeyId: Match.absent() });
  });
});
