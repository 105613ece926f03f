import { App, Aspects, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Table } from 'aws-cdk-lib/aws-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertRunnableLocally, RESOURCE_HANDLERS } from '../../bin/local-cloud/resources/registry';
import { readCdkContext } from '../../bin/local-cloud/synth';
import { parseConfig, type SwitchboardConfig } from '../../lib/config';
import { TableBackup } from '../../lib/constructs/backup';
import { NIST80053R5Checks, ServerlessChecks } from '../../lib/nag';
import { DrStack, drNames } from '../../lib/stacks/dr-stack';
import { StatefulStack } from '../../lib/stacks/stateful-stack';
import { buildSwitchboard, type SwitchboardApp } from '../../lib/switchboard-app';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const context = readCdkContext();
const raw = context['switchboard'] as Record<string, Json>;
const config = parseConfig(raw);
const dr = config.dr!;
const ACCOUNT = '123456789012';

let app: App;
let built: SwitchboardApp;
let drStack: DrStack;
let templates: Record<string, Template>;
let stacks: Stack[];

/** A value with the pseudo parameters filled in and Fn::Join applied: what CloudFormation would see. */
const flat = (value: Json): Json => {
  if (Array.isArray(value)) return value.map(flat);
  if (value && typeof value === 'object') {
    if (value.Ref === 'AWS::Partition') return 'aws';
    if (value.Ref === 'AWS::AccountId') return ACCOUNT;
    if (value['Fn::Join']) return (value['Fn::Join'][1] as Json[]).map(flat).join(value['Fn::Join'][0]);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, flat(v)]));
  }
  return value;
};
const resources = (stack: string, type: string): [string, Json][] => Object.entries(templates[stack]!.findResources(type));

// One synth of the whole app from cdk.json (bundling skipped), the Serverless and NIST packs added on the stacks this touches.
beforeAll(() => {
  app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  built = buildSwitchboard(app, config);
  drStack = app.node.findChild(`${config.appName}-DR`) as DrStack;
  for (const stack of [built.stateful, built.audit, drStack]) {
    Aspects.of(stack).add(new ServerlessChecks({ verbose: true }));
    Aspects.of(stack).add(new NIST80053R5Checks({ verbose: true }));
  }
  stacks = app.node.children.filter((c): c is Stack => Stack.isStack(c));
  app.synth();
  templates = Object.fromEntries(stacks.map((stack) => [stack.node.id.replace(`${config.appName}-`, ''), Template.fromStack(stack)]));
});

describe('backups of every table', () => {
  it('keeps PITR and deletion protection on every table of the app, retained', () => {
    const tables = stacks.flatMap((stack) => {
      const key = stack.node.id.replace(`${config.appName}-`, '');
      return [...resources(key, 'AWS::DynamoDB::Table'), ...resources(key, 'AWS::DynamoDB::GlobalTable')].map(([id, table]) => ({ key, id, table }));
    });
    expect(tables.map((t) => `${t.key}/${t.id}`).sort()).toEqual(['Stateful/AuditTable18A3095C', 'Stateful/TasksTable45D1B62D']);
    for (const { table } of tables) {
      expect(table.Properties.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
      expect(table.Properties.DeletionProtectionEnabled).toBe(true);
      expect(table.DeletionPolicy).toBe('Retain');
    }
  });

  it('selects every table for the backup plan, on the configured schedule and retention, with a copy to the DR vault named from config', () => {
    const [[, selection]] = resources('Stateful', 'AWS::Backup::BackupSelection') as [[string, Json]];
    expect(selection.Properties.BackupSelection.Resources.map((r: Json) => r['Fn::GetAtt'][0]).sort()).toEqual(['AuditTable18A3095C', 'TasksTable45D1B62D']);
    const [[, plan]] = resources('Stateful', 'AWS::Backup::BackupPlan') as [[string, Json]];
    const [rule] = plan.Properties.BackupPlan.BackupPlanRule;
    expect(rule.ScheduleExpression).toBe(dr.backup.schedule);
    expect(rule.Lifecycle).toEqual({ DeleteAfterDays: dr.backup.retentionDays });
    expect(flat(rule.CopyActions)).toEqual([
      { DestinationBackupVaultArn: `arn:aws:backup:${dr.region}:${ACCOUNT}:backup-vault:${drNames(config.appName).vaultName}`, Lifecycle: { DeleteAfterDays: dr.backup.copyRetentionDays } },
    ]);
    // The ARN names the vault the DR stack creates, in the DR region.
    expect(drStack.region).toBe(dr.region);
    templates['DR']!.hasResourceProperties('AWS::Backup::BackupVault', { BackupVaultName: drNames(config.appName).vaultName });
  });

  it('locks both vaults (Vault Lock from config), each with a key of its own, retained, recovery points undeletable by policy', () => {
    for (const stack of ['Stateful', 'DR']) {
      const vaults = resources(stack, 'AWS::Backup::BackupVault');
      expect(vaults, stack).toHaveLength(1);
      const [, vault] = vaults[0]!;
      expect(vault.Properties.LockConfiguration).toEqual({ MinRetentionDays: dr.vaultLock.minRetentionDays, MaxRetentionDays: dr.vaultLock.maxRetentionDays });
      expect(vault.DeletionPolicy).toBe('Retain');
      const keyId = vault.Properties.EncryptionKeyArn['Fn::GetAtt'][0];
      expect(templates[stack]!.toJSON().Resources[keyId].Properties.EnableKeyRotation).toBe(true);
      const deny = vault.Properties.AccessPolicy.Statement.find((s: Json) => s.Effect === 'Deny');
      expect(deny.Action).toEqual(expect.arrayContaining(['backup:DeleteRecoveryPoint', 'backup:UpdateRecoveryPointLifecycle']));
    }
  });
});

describe('the DR stack', () => {
  it('is not returned by buildSwitchboard (npm start never provisions it) and reads nothing of the primary stacks but aliases', () => {
    expect(Object.values(built).map((stack) => stack.stackName)).not.toContain(drStack.stackName);
    const dr = JSON.stringify(templates['DR']!.toJSON());
    expect(dr).not.toMatch(/Fn::ImportValue/);
    // And no primary stack reads an output of the DR stack: CloudFormation exports do not cross regions.
    expect(templates['DR']!.toJSON().Outputs ?? {}).toEqual({});
    for (const stack of stacks.filter((s) => s !== drStack)) expect(JSON.stringify(Template.fromStack(stack).toJSON()), stack.stackName).not.toContain(`${drStack.stackName}:`);
    expect(drStack.dependencies.map((s) => s.stackName)).toEqual([built.stateful.stackName]);
    expect(built.audit.dependencies.map((s) => s.stackName)).toContain(drStack.stackName);
  });

  it('replicates each multi-region data key there, found by its alias in the primary region, under the same alias', () => {
    const levels = Object.keys(built.stateful.dataKeys.multiRegionKeyArns);
    expect(levels.length).toBeGreaterThan(0);
    const replicas = resources('DR', 'AWS::KMS::ReplicaKey');
    expect(replicas).toHaveLength(levels.length);
    const lookups = resources('DR', 'Custom::AWS').map(([, r]) => JSON.parse(flat(r.Properties.Create)));
    const aliases = resources('DR', 'AWS::KMS::Alias').map(([, a]) => a.Properties);
    for (const level of levels) {
      const alias = `${built.stateful.dataKeys.aliasPrefix}/${level}`;
      const lookup = lookups.find((l) => l.parameters.KeyId === alias);
      expect(lookup, level).toMatchObject({ service: 'KMS', action: 'describeKey', region: config.primaryRegion });
      const replicaId = aliases.find((a) => a.AliasName === alias)?.TargetKeyId['Fn::GetAtt'][0];
      const [, replica] = replicas.find(([id]) => id === replicaId)!;
      expect(replica.Properties.PrimaryKeyArn['Fn::GetAtt'][1]).toBe('KeyMetadata.Arn');
      expect(replica.DeletionPolicy).toBe('Retain');
    }
    // The primary's aliases are the ones looked up.
    const primaryAliases = resources('Stateful', 'AWS::KMS::Alias').map(([, a]) => a.Properties.AliasName);
    for (const level of levels) expect(primaryAliases).toContain(`${built.stateful.dataKeys.aliasPrefix}/${level}`);
  });

  it('replicates the trail and digest buckets to Object Lock buckets in the DR region, re-encrypted with the DR key', () => {
    const names = drNames(config.appName);
    const audit = templates['Audit']!.toJSON().Resources;
    const sources = resources('Audit', 'AWS::S3::Bucket').filter(([id]) => /^Audit(Trail|Digest)Bucket/.test(id));
    expect(sources).toHaveLength(2);
    const destinations = sources.map(([, bucket]) => {
      const { Role, Rules } = bucket.Properties.ReplicationConfiguration;
      expect(Role['Fn::GetAtt'][0]).toMatch(/^AuditReplicationRole/);
      expect(Rules).toHaveLength(1);
      expect(Rules[0]).toMatchObject({ Status: 'Enabled', SourceSelectionCriteria: { SseKmsEncryptedObjects: { Status: 'Enabled' } } });
      expect(flat(Rules[0].Destination.EncryptionConfiguration.ReplicaKmsKeyID)).toBe(`arn:aws:kms:${dr.region}:${ACCOUNT}:${names.auditReplicaKeyAlias}`);
      return flat(Rules[0].Destination.Bucket);
    });
    expect(destinations.sort()).toEqual([`arn:aws:s3:::${names.digestBucketName(ACCOUNT)}`, `arn:aws:s3:::${names.trailBucketName(ACCOUNT)}`]);
    // The role may read object versions and their locks here, decrypt only through S3, and write replicas there.
    const roleId = Object.keys(audit).find((id) => /^AuditReplicationRole[0-9A-F]{8}$/.test(id))!;
    const policy = Object.values(audit).find((r: Json) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: Json) => x.Ref === roleId)) as Json;
    const actions = policy.Properties.PolicyDocument.Statement.flatMap((s: Json) => [s.Action].flat());
    expect(actions).toEqual(expect.arrayContaining(['s3:GetObjectRetention', 's3:GetObjectVersionForReplication', 's3:ReplicateObject', 'kms:Decrypt', 'kms:Encrypt']));
    expect(actions.filter((a: string) => /Delete|PutObject$|\*$/.test(a))).toEqual([]);
    // The destinations: Object Lock COMPLIANCE for the audit retention, KMS with the alias the primary names.
    for (const name of [names.trailBucketName(ACCOUNT), names.digestBucketName(ACCOUNT)]) {
      const [, bucket] = resources('DR', 'AWS::S3::Bucket').find(([, b]) => flat(b.Properties.BucketName) === name)!;
      expect(bucket.Properties.ObjectLockConfiguration.Rule.DefaultRetention).toEqual({ Mode: 'COMPLIANCE', Days: config.audit.retentionDays });
      expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      const keyId = bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.KMSMasterKeyID['Fn::GetAtt'][0];
      templates['DR']!.hasResourceProperties('AWS::KMS::Alias', { AliasName: names.auditReplicaKeyAlias, TargetKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
      expect(bucket.DeletionPolicy).toBe('Retain');
    }
  });

  it('leaves no unacknowledged finding of AwsSolutions, Serverless or NIST 800-53 r5 on the Stateful, Audit and DR stacks', () => {
    const findings = [built.stateful, built.audit, drStack].flatMap((stack) =>
      stack.node
        .findAll()
        .flatMap((c) => c.node.metadata)
        .filter((m) => (m.type === 'aws:cdk:error' || m.type === 'aws:cdk:warning') && /^(AwsSolutions|Serverless|NIST)/.test(String(m.data)))
        .map((m) => `${stack.stackName}: ${String(m.data).split(':')[0]}`),
    );
    expect(findings).toEqual([]);
  });
});

describe('table replicas (dr.replicas)', () => {
  const withReplicas = (replicas: boolean) => {
    const small = new App();
    const region = { region: config.primaryRegion, account: ACCOUNT };
    const stateful = new StatefulStack(small, 'Switchboard-Stateful', {
      env: region,
      removalPolicy: RemovalPolicy.RETAIN,
      ...(replicas ? { replica: { region: dr.region, keyArn: `arn:aws:kms:${dr.region}:${ACCOUNT}:${drNames('Switchboard').tablesKeyAlias}` } } : {}),
    });
    return Template.fromStack(stateful);
  };

  it('off (the default): plain tables, no replica, no global table', () => {
    expect(dr.replicas).toBe(false);
    expect(Object.keys(templates['Stateful']!.findResources('AWS::DynamoDB::GlobalTable'))).toEqual([]);
    expect(resources('DR', 'AWS::KMS::Key').map(([, k]) => k.Properties.Description)).not.toContain(expect.stringMatching(/replicas of the tasks and audit tables/));
    expect(Object.keys(withReplicas(false).findResources('AWS::DynamoDB::GlobalTable'))).toEqual([]);
  });

  it('on: both tables become global tables under the same logical ids, each with a replica in the DR region keeping PITR, deletion protection and the DR key', () => {
    const template = withReplicas(true);
    expect(Object.keys(template.findResources('AWS::DynamoDB::Table'))).toEqual([]);
    const globals = template.findResources('AWS::DynamoDB::GlobalTable');
    expect(Object.keys(globals).sort()).toEqual(['AuditTable18A3095C', 'TasksTable45D1B62D']);
    for (const table of Object.values(globals) as Json[]) {
      expect(table.DeletionPolicy).toBe('Retain');
      const replica = table.Properties.Replicas.find((r: Json) => r.Region === dr.region);
      expect(replica).toMatchObject({ DeletionProtectionEnabled: true, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } });
      expect(replica.SSESpecification.KMSMasterKeyId).toBe(`arn:aws:kms:${dr.region}:${ACCOUNT}:${drNames('Switchboard').tablesKeyAlias}`);
      expect(table.Properties.Replicas.find((r: Json) => r.Region === config.primaryRegion).SSESpecification.KMSMasterKeyId['Fn::GetAtt'][0]).toMatch(/^PlatformKey/);
    }
    // npm start builds the global tables as it builds tables (one region locally): the registry knows the type.
    const local = Object.entries(template.toJSON().Resources as Record<string, Json>).map(([id, resource]) => ({ stackName: 'Switchboard-Stateful', id, resource }));
    expect(() => assertRunnableLocally(local)).not.toThrow();
    expect(RESOURCE_HANDLERS.get('AWS::DynamoDB::GlobalTable')?.provision).toBe(RESOURCE_HANDLERS.get('AWS::DynamoDB::Table')?.provision);
    // The tasks table keeps its TTL and indexes.
    const tasks = globals['TasksTable45D1B62D'] as Json;
    expect(tasks.Properties.TimeToLiveSpecification.Enabled).toBe(true);
    expect(tasks.Properties.GlobalSecondaryIndexes.length).toBeGreaterThan(0);
  });

  it('on: the DR stack carries the tables key under the alias the replicas name', () => {
    const small = new App();
    const stack = new DrStack(small, 'Switchboard-DR', drProps({ tableReplicas: true }));
    Template.fromStack(stack).hasResourceProperties('AWS::KMS::Alias', { AliasName: drNames('Switchboard').tablesKeyAlias });
  });
});

const drProps = (over: Partial<ConstructorParameters<typeof DrStack>[2]> = {}): ConstructorParameters<typeof DrStack>[2] => ({
  env: { region: dr.region, account: ACCOUNT },
  appName: 'Switchboard',
  primaryRegion: config.primaryRegion,
  dataKeyAliasPrefix: 'alias/Switchboard-Stateful/data',
  multiRegionLevels: ['restricted'],
  copyRetentionDays: 35,
  lock: { minRetentionDays: 7, maxRetentionDays: 3653 },
  auditRetentionDays: 30,
  tableReplicas: false,
  ...over,
});

describe('refuses what cannot work', () => {
  const parse = (dr: Json): string => {
    try {
      parseConfig({ ...raw, dr: { ...raw['dr'], ...dr } });
      return 'accepted';
    } catch (error) {
      return (error as Error).message;
    }
  };

  it('config: the DR region equal to the primary, retentions outside the vault lock, a bad schedule or compliance grace, each in one line naming the key', () => {
    expect(parse({ region: config.primaryRegion })).toMatch(/switchboard\.dr\.region: must differ from primaryRegion/);
    expect(parse({ backup: { retentionDays: 3 } })).toMatch(/switchboard\.dr\.backup\.retentionDays: 3 days is outside the vault lock's 7–3653 days/);
    expect(parse({ backup: { copyRetentionDays: 4000 } })).toMatch(/switchboard\.dr\.backup\.copyRetentionDays: 4000 days/);
    expect(parse({ vaultLock: { minRetentionDays: 40, maxRetentionDays: 30 } })).toMatch(/switchboard\.dr\.vaultLock\.minRetentionDays: 40 exceeds maxRetentionDays 30/);
    expect(parse({ backup: { schedule: 'rate(1 day)' } })).toMatch(/switchboard\.dr\.backup\.schedule: an AWS Backup cron expression/);
    expect(parse({ vaultLock: { changeableForDays: 1 } })).toMatch(/switchboard\.dr\.vaultLock\.changeableForDays/);
    expect(parse({ region: 'mars' })).toMatch(/switchboard\.dr\.region: an AWS region/);
    expect(parse({})).toBe('accepted');
    const defaults = parseConfig({ ...raw, dr: { region: 'eu-west-1' } }).dr as SwitchboardConfig['dr'];
    expect(defaults).toEqual({ region: 'eu-west-1', replicas: false, backup: { schedule: 'cron(0 3 * * ? *)', retentionDays: 35, copyRetentionDays: 35 }, vaultLock: { minRetentionDays: 7, maxRetentionDays: 3653 } });
  });

  it('constructs: a copy into the tables\' own region, an empty selection, a DR stack in the primary region, bucket names over 63 characters, a replica in the table\'s region', () => {
    const stack = new Stack(new App(), 'S', { env: { region: config.primaryRegion, account: ACCOUNT } });
    const table = new Table(stack, 'T', { partitionKey: { name: 'pk', type: 'S' as never } });
    const backup = { schedule: 'cron(0 3 * * ? *)', retentionDays: 35, lock: { minRetentionDays: 7, maxRetentionDays: 3653 } };
    expect(() => new TableBackup(stack, 'B1', { ...backup, tables: [table], copy: { vaultArn: `arn:aws:backup:${config.primaryRegion}:${ACCOUNT}:backup-vault:x`, retentionDays: 35 } })).toThrow(
      /the copy's vault is in us-east-1, the tables' own region/,
    );
    expect(() => new TableBackup(stack, 'B2', { ...backup, tables: [], copy: { vaultArn: `arn:aws:backup:${dr.region}:${ACCOUNT}:backup-vault:x`, retentionDays: 35 } })).toThrow(/no table/);
    expect(() => new TableBackup(stack, 'B3', { ...backup, retentionDays: 1, tables: [table], copy: { vaultArn: `arn:aws:backup:${dr.region}:${ACCOUNT}:backup-vault:x`, retentionDays: 35 } })).toThrow(
      /retentionDays 1 days is outside the vault lock's 7–3653 days/,
    );
    expect(() => new DrStack(new App(), 'D1', drProps({ env: { region: config.primaryRegion, account: ACCOUNT } }))).toThrow(/is the primary region/);
    expect(() => new DrStack(new App(), 'D2', drProps({ appName: 'A'.repeat(40) }))).toThrow(/bucket names of \d+ characters \(S3 allows 63\)/);
    expect(() => new DrStack(new App(), 'D3', drProps({ copyRetentionDays: 5 }))).toThrow(/copyRetentionDays 5 days is outside/);
    expect(
      () => new StatefulStack(new App(), 'S2', { env: { region: config.primaryRegion, account: ACCOUNT }, removalPolicy: RemovalPolicy.RETAIN, replica: { region: config.primaryRegion, keyArn: 'k' } }),
    ).toThrow(/the replica's region us-east-1 is the table's own region/);
  });
});
