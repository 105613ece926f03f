import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCdkContext } from '../../bin/local-cloud/synth';
import { parseConfig } from '../../lib/config';
import { AuditTrail, type AuditTrailProps } from '../../lib/constructs/audit-trail';
import { buildSwitchboard, type SwitchboardApp } from '../../lib/switchboard-app';
import { flat } from './template-values';

const context = readCdkContext();
const config = parseConfig(context['switchboard']);

let stacks: SwitchboardApp;
let audit: Template;
/** The audit stack's synth messages (cdk-nag findings among them), read once: Annotations.fromStack re-synthesizes the whole app per call. */
let messages: { level: string; id: string; entry: { data?: unknown } }[];

type Selector = { Name: string; FieldSelectors: { Field: string; Equals?: unknown[]; StartsWith?: unknown[] }[] };
const only = (template: Template, type: string) => {
  const found = Object.values(template.findResources(type));
  expect(found, type).toHaveLength(1);
  return found[0] as { Properties: Record<string, unknown>; DeletionPolicy?: string };
};
/** Each selector as `name: field=values; …` with intrinsics flattened. */
const readable = (selectors: Selector[]) =>
  selectors.map(
    (s) =>
      `${s.Name}: ${s.FieldSelectors.map((f) => `${f.Field}${f.Equals ? '=' : '^='}${(f.Equals ?? f.StartsWith ?? []).map(flat).join(',')}`).join('; ')}`,
  );
const lockedBuckets = () =>
  Object.entries(audit.findResources('AWS::S3::Bucket')).filter(([, b]) => b['Properties'].ObjectLockEnabled === true);
/** The stacks whose functions the trail records, in the order it lists their name prefixes. */
const functionStacks = (): Stack[] => [stacks.workflows, stacks.messaging, stacks.api, ...(stacks.identity ? [stacks.identity] : [])];
const auditKeyId = () =>
  Object.entries(audit.findResources('AWS::KMS::Key')).find(([, k]) => k['Properties'].EnableKeyRotation === true)![0];

beforeAll(() => {
  const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  stacks = buildSwitchboard(app, config);
  const assembly = app.synth();
  audit = Template.fromStack(stacks.audit);
  messages = assembly.getStackArtifact(stacks.audit.artifactId).messages;
});

describe('the audit stack', () => {
  it('depends on the Stateful stack (and the DR stack its buckets replicate to) only, so the stacks of functions may use its bucket and key without a cycle', () => {
    expect(stacks.audit.dependencies.map((s) => s.stackName).sort()).toEqual([`${stacks.stateful.stackName.replace(/-Stateful$/, '')}-DR`, stacks.stateful.stackName]);
  });

  it('pins the logical ids of its stateful resources (renaming one would replace it)', () => {
    const ids = (type: string) => Object.keys(audit.findResources(type)).sort();
    expect({
      keys: ids('AWS::KMS::Key'),
      buckets: ids('AWS::S3::Bucket'),
      trail: ids('AWS::CloudTrail::Trail'),
      lake: ids('AWS::CloudTrail::EventDataStore'),
      logGroup: ids('AWS::Logs::LogGroup'),
    }).toEqual({
      keys: ['AuditDigestSigningKey3C76BAAE', 'AuditKey2ED08D30'],
      buckets: ['AuditAccessLogBucket9BF217B6', 'AuditDigestBucket80DF46B4', 'AuditTrailBucket1FC98696'],
      trail: ['AuditTrail90B6CA04'],
      lake: ['AuditEventDataStore7785189A'],
      logGroup: ['AuditTrailLogGroup6D314449'],
    });
  });
});

describe('the trail', () => {
  it('is multi-region with global events and log-file validation, encrypted with the rotating audit key, copied to an encrypted log group', () => {
    const trail = only(audit, 'AWS::CloudTrail::Trail').Properties;

    expect({
      multiRegion: trail['IsMultiRegionTrail'],
      global: trail['IncludeGlobalServiceEvents'],
      validation: trail['EnableLogFileValidation'],
      logging: trail['IsLogging'],
      key: flat(trail['KMSKeyId']),
      bucket: flat(trail['S3BucketName']),
      logGroup: flat(trail['CloudWatchLogsLogGroupArn']),
      basicSelectors: trail['EventSelectors'],
    }).toEqual({
      multiRegion: true,
      global: true,
      validation: true,
      logging: true,
      key: `\${${auditKeyId()}.Arn}`,
      bucket: '${AuditTrailBucket1FC98696}',
      logGroup: '${AuditTrailLogGroup6D314449.Arn}',
      basicSelectors: undefined,
    });
    audit.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    expect(flat(only(audit, 'AWS::Logs::LogGroup').Properties['KmsKeyId'])).toBe(`\${${auditKeyId()}.Arn}`);
  });

  it('records management events and the data events of the tasks and audit tables, the platform\'s functions and the digest bucket', () => {
    const selectors = readable(only(audit, 'AWS::CloudTrail::Trail').Properties['AdvancedEventSelectors'] as Selector[]);
    const fn = (stack: Stack) => `arn:aws:lambda:${config.primaryRegion}:\${AWS::AccountId}:function:${stack.stackName}-`;

    expect(selectors).toEqual([
      'Management events: eventCategory=Management',
      expect.stringMatching(
        /^Table items: eventCategory=Data; resources\.type=AWS::DynamoDB::Table; resources\.ARN=\$\{import:Switchboard-Stateful:ExportsOutputFnGetAttTasksTable45D1B62DArn[0-9A-F]+\},\$\{import:Switchboard-Stateful:ExportsOutputFnGetAttAuditTable18A3095CArn[0-9A-F]+\}$/,
      ),
      `Function invocations: eventCategory=Data; resources.type=AWS::Lambda::Function; resources.ARN^=${functionStacks().map(fn).join(',')}`,
      'Bucket objects: eventCategory=Data; resources.type=AWS::S3::Object; resources.ARN^=${AuditDigestBucket80DF46B4.Arn}/',
    ]);
  });

  it('covers every function of the app: each lives in a stack whose name prefix the trail records', () => {
    const covered = new Set(functionStacks().map((s) => s.stackName));
    const uncovered = Object.values(stacks)
      .filter((stack) => Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function')).some((f) => !f['Properties'].FunctionName))
      .map((stack) => stack.stackName)
      .filter((name) => !covered.has(name));

    expect(uncovered).toEqual([]);
  });
});

describe('the CloudTrail Lake event data store', () => {
  it('keeps the configured days of the same events, multi-region, KMS-encrypted, with termination protection, retained', () => {
    const store = only(audit, 'AWS::CloudTrail::EventDataStore');
    const trail = only(audit, 'AWS::CloudTrail::Trail').Properties;

    expect({
      retention: store.Properties['RetentionPeriod'],
      termination: store.Properties['TerminationProtectionEnabled'],
      multiRegion: store.Properties['MultiRegionEnabled'],
      key: flat(store.Properties['KmsKeyId']),
      selectors: store.Properties['AdvancedEventSelectors'],
      deletion: store.DeletionPolicy,
    }).toEqual({
      retention: config.audit.lakeRetentionDays ?? config.audit.retentionDays,
      termination: true,
      multiRegion: true,
      key: `\${${auditKeyId()}.Arn}`,
      selectors: trail['AdvancedEventSelectors'],
      deletion: 'Retain',
    });
  });
});

describe('the Object Lock buckets', () => {
  it('lock the trail\'s logs and the audit digests in COMPLIANCE mode for the configured days, versioned, KMS, access-logged, retained', () => {
    const buckets = lockedBuckets().map(([id, b]) => ({
      id,
      lock: b['Properties'].ObjectLockConfiguration,
      versioning: b['Properties'].VersioningConfiguration,
      encryption: flat(b['Properties'].BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.KMSMasterKeyID),
      accessLogs: flat(b['Properties'].LoggingConfiguration.DestinationBucketName),
      publicAccess: b['Properties'].PublicAccessBlockConfiguration,
      deletion: b['DeletionPolicy'],
    }));
    const expected = (id: string) => ({
      id,
      lock: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: config.audit.retentionDays } } },
      versioning: { Status: 'Enabled' },
      encryption: `\${${auditKeyId()}.Arn}`,
      accessLogs: '${AuditAccessLogBucket9BF217B6}',
      publicAccess: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      deletion: 'Retain',
    });

    expect(buckets.sort((a, b) => a.id.localeCompare(b.id))).toEqual([expected('AuditDigestBucket80DF46B4'), expected('AuditTrailBucket1FC98696')]);
  });

  it('expire current versions only after their lock ends', () => {
    for (const [id, bucket] of lockedBuckets()) {
      const rules = bucket['Properties'].LifecycleConfiguration.Rules as { ExpirationInDays?: number }[];
      expect(rules.map((r) => r.ExpirationInDays).every((days) => days === undefined || days > config.audit.retentionDays), id).toBe(true);
    }
  });

  it('every bucket of the stack denies requests without TLS', () => {
    const buckets = Object.keys(audit.findResources('AWS::S3::Bucket')).sort();
    const tlsOnly = Object.values(audit.findResources('AWS::S3::BucketPolicy'))
      .filter((policy) =>
        (policy['Properties'].PolicyDocument.Statement as { Effect: string; Condition?: unknown; Principal?: unknown }[]).some(
          (s) => s.Effect === 'Deny' && JSON.stringify(s.Condition) === '{"Bool":{"aws:SecureTransport":"false"}}' && JSON.stringify(s.Principal) === '{"AWS":"*"}',
        ),
      )
      .map((policy) => flat(policy['Properties'].Bucket).slice(2, -1))
      .sort();

    expect(tlsOnly).toEqual(buckets);
  });
});

describe('the digest signing key', () => {
  it('is an asymmetric ECC_NIST_P256 key for SIGN_VERIFY, retained', () => {
    audit.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }),
      DeletionPolicy: 'Retain',
    });
    expect(stacks.audit.audit.digestSigningKey.node.path).toBe('Switchboard-Audit/Audit/DigestSigningKey');
  });
});

describe('cdk-nag on the audit stack', () => {
  it('reports no unacknowledged finding of any pack, and every acknowledgement has a reason', () => {
    const findings = messages.filter((m) => m.level === 'error' || m.level === 'warning').map((f) => `${f.id}: ${String(f.entry.data).slice(0, 120)}`);

    expect(findings).toEqual([]);
    for (const resource of Object.values(audit.toJSON().Resources as Record<string, { Metadata?: { cdk_nag?: { rules_to_suppress: { reason: string }[] } } }>)) {
      for (const rule of resource.Metadata?.cdk_nag?.rules_to_suppress ?? []) expect(rule.reason.length).toBeGreaterThan(40);
    }
  });
});

describe('AuditTrail guards and config', () => {
  const build = (props: Partial<AuditTrailProps>) => () => {
    const stack = new Stack();
    const table = new Table(stack, 'T', { partitionKey: { name: 'pk', type: AttributeType.STRING } });
    new AuditTrail(stack, 'Audit', { retentionDays: 30, tables: [table], functionNamePrefixes: ['App-'], removalPolicy: RemovalPolicy.DESTROY, ...props });
  };

  it('refuses retention outside Object Lock\'s and CloudTrail Lake\'s bounds, naming the number', () => {
    expect(build({ retentionDays: 0 })).toThrow('retentionDays 0 must be a whole number of days from 1 to 36500');
    expect(build({ retentionDays: 30, lakeRetentionDays: 5 })).toThrow('lakeRetentionDays 5 must be a whole number of days from 7 to 3653');
  });

  it('refuses a function prefix that is not a plain name (a wildcard would match nothing)', () => {
    expect(build({ functionNamePrefixes: ['App-*'] })).toThrow('a function name prefix is letters, digits, - and _');
  });

  it.each([
    [3653 * 2, 3653],
    [3, 7],
  ])('without lakeRetentionDays, a %i-day lock keeps Lake events %i days (within Lake\'s bounds)', (retentionDays, lakeDays) => {
    const stack = new Stack();
    const table = new Table(stack, 'T', { partitionKey: { name: 'pk', type: AttributeType.STRING } });
    new AuditTrail(stack, 'Audit', { retentionDays, tables: [table], functionNamePrefixes: ['App-'], removalPolicy: RemovalPolicy.DESTROY });

    Template.fromStack(stack).hasResourceProperties('AWS::CloudTrail::EventDataStore', { RetentionPeriod: lakeDays });
  });

  it('config: audit defaults to seven years, and a bad value names its key', () => {
    const raw = context['switchboard'] as Record<string, unknown>;
    const { audit: _audit, ...withoutAudit } = raw;

    expect(parseConfig(withoutAudit).audit).toEqual({ retentionDays: 2557 });
    expect(() => parseConfig({ ...raw, audit: { retentionDays: 30, lakeRetentionDays: 1 } })).toThrow('switchboard.audit.lakeRetentionDays');
  });
});
