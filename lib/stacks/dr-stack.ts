import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { CfnAlias, CfnReplicaKey, Key } from 'aws-cdk-lib/aws-kms';
import type { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { LockedVault, vaultLock, type VaultLockSettings } from '../constructs/backup';
import { accessLogBucket, lockedAuditBucket } from '../constructs/audit-trail';

/**
 * The names the primary stacks and the DR stack share. The primary stacks name the DR region's
 * vault, buckets and keys by these (ARNs built from config), never by a reference: CloudFormation
 * exports do not cross regions, so no primary stack reads an output of the DR stack.
 */
export const drNames = (appName: string) => {
  const lower = appName.toLowerCase();
  return {
    /** The DR region's backup vault, where the tables' backups are copied. */
    vaultName: `${appName}-DR`,
    /** The Object Lock buckets the trail and digest buckets replicate to (bucket names are global: the account makes them unique). */
    trailBucketName: (account: string) => `${lower}-dr-trail-${account}`,
    digestBucketName: (account: string) => `${lower}-dr-digests-${account}`,
    accessLogBucketName: (account: string) => `${lower}-dr-access-logs-${account}`,
    /** The DR key the audit replicas are encrypted with. */
    auditReplicaKeyAlias: `alias/${appName}-DR/audit-replica`,
    /** The DR key the tables' replicas are encrypted with (config dr.replicas). */
    tablesKeyAlias: `alias/${appName}-DR/tables`,
  };
};

/**
 * The ARNs of the DR region's resources, as a primary stack of the same account names them
 * (`partition` and `account` may be the pseudo parameters: they resolve in the stack that uses them).
 */
export const drArns = (appName: string, region: string, at: { partition: string; account: string }) => {
  const names = drNames(appName);
  const arn = (service: string, resource: string) => `arn:${at.partition}:${service}:${region}:${at.account}:${resource}`;
  return {
    vault: arn('backup', `backup-vault:${names.vaultName}`),
    trailBucket: `arn:${at.partition}:s3:::${names.trailBucketName(at.account)}`,
    digestBucket: `arn:${at.partition}:s3:::${names.digestBucketName(at.account)}`,
    auditReplicaKeyAlias: arn('kms', names.auditReplicaKeyAlias),
    tablesKeyAlias: arn('kms', names.tablesKeyAlias),
  };
};

export interface DrStackProps extends StackProps {
  appName: string;
  /** Where the primary multi-region data keys are (looked up there by alias). */
  primaryRegion: string;
  /** The primary data keys' alias prefix (`alias/<Stateful stack>/data`): `<prefix>/<level>` names each. */
  dataKeyAliasPrefix: string;
  /** The levels whose data keys are multi-region primaries (config classifications.multiRegion). */
  multiRegionLevels: readonly string[];
  /** Days each backup copy is kept here (config dr.backup.copyRetentionDays). */
  copyRetentionDays: number;
  lock: VaultLockSettings;
  /** Object Lock retention of the audit replicas: the primary buckets' (config audit.retentionDays). */
  auditRetentionDays: number;
  /** Create the key the tables' replicas are encrypted with (config dr.replicas). */
  tableReplicas: boolean;
}

const capitalised = (level: string) => level.charAt(0).toUpperCase() + level.slice(1);

/**
 * What the DR region holds before any disaster (docs/disaster-recovery.md): replica keys of the
 * multi-region data keys (so data sealed in the primary region opens here), the locked vault the
 * tables' backups are copied into, the Object Lock buckets the audit buckets replicate to (with their
 * key and access-log bucket), and, with table replicas, the key those replicas are encrypted with.
 * Everything here is retained. It is never provisioned by `npm start` (buildSwitchboard does not return it).
 */
export class DrStack extends Stack {
  readonly replicaKeys: Readonly<Record<string, CfnReplicaKey>>;
  readonly vault: LockedVault;
  readonly auditReplicaKey: Key;
  readonly trailBucket: Bucket;
  readonly digestBucket: Bucket;
  readonly accessLogBucket: Bucket;
  readonly tablesKey?: Key;

  constructor(scope: Construct, id: string, props: DrStackProps) {
    super(scope, id, props);
    // Log delivery to the access-log bucket granted by bucket policy, never by a legacy ACL (as AuditTrail does).
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    if (this.region === props.primaryRegion) throw new Error(`DrStack: region ${this.region} is the primary region; the DR stack belongs in another`);
    const names = drNames(props.appName);
    const longest = names.accessLogBucketName('123456789012');
    if (longest.length > 63) throw new Error(`DrStack: appName "${props.appName}" makes bucket names of ${longest.length} characters (S3 allows 63); shorten it to at most ${props.appName.length - (longest.length - 63)}`);

    this.replicaKeys = Object.fromEntries(props.multiRegionLevels.map((level) => [level, this.replicaKey(props, level)]));

    this.vault = new LockedVault(this, 'Backup', {
      vaultName: names.vaultName,
      description: 'Switchboard DR: the tables\' backup copies from the primary region',
      lock: vaultLock('DrStack', props.lock, { copyRetentionDays: props.copyRetentionDays }),
    });

    this.auditReplicaKey = new Key(this, 'AuditReplicaKey', {
      description: 'Switchboard DR: encrypts the replicas of the audit Object Lock buckets',
      alias: names.auditReplicaKeyAlias,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.accessLogBucket = accessLogBucket(this, 'AccessLogBucket', props.auditRetentionDays, names.accessLogBucketName(this.account));
    const replica = (bucketId: string, bucketName: string, logPrefix: string) =>
      lockedAuditBucket(this, bucketId, { retentionDays: props.auditRetentionDays, key: this.auditReplicaKey, accessLogBucket: this.accessLogBucket, logPrefix, bucketName });
    this.trailBucket = replica('TrailReplicaBucket', names.trailBucketName(this.account), 'trail/');
    this.digestBucket = replica('DigestReplicaBucket', names.digestBucketName(this.account), 'digests/');

    if (props.tableReplicas) {
      this.tablesKey = new Key(this, 'TablesKey', {
        description: 'Switchboard DR: encrypts the replicas of the tasks and audit tables',
        alias: names.tablesKeyAlias,
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
    }
  }

  /**
   * A replica here of `level`'s multi-region data key, with the primary's alias. The primary key's
   * ARN is read at deploy time from its alias in the primary region (kms:DescribeKey): a reference to
   * the Stateful stack would be a cross-region export, which CloudFormation does not have.
   */
  private replicaKey(props: DrStackProps, level: string): CfnReplicaKey {
    const aliasName = `${props.dataKeyAliasPrefix}/${level}`;
    const id = capitalised(level);
    const primary = new AwsCustomResource(this, `${id}PrimaryKey`, {
      onUpdate: {
        service: 'KMS',
        action: 'describeKey',
        region: props.primaryRegion,
        parameters: { KeyId: aliasName },
        physicalResourceId: PhysicalResourceId.of(aliasName),
        outputPaths: ['KeyMetadata.Arn'],
      },
      policy: AwsCustomResourcePolicy.fromStatements([
        new PolicyStatement({
          actions: ['kms:DescribeKey'],
          resources: [`arn:${this.partition}:kms:${props.primaryRegion}:${this.account}:key/*`],
          conditions: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [aliasName] } },
        }),
      ]),
      installLatestAwsSdk: false,
    });
    const replica = new CfnReplicaKey(this, `${id}DataKeyReplica`, {
      primaryKeyArn: primary.getResponseField('KeyMetadata.Arn'),
      description: `Switchboard data key for ${level} data: replica in the DR region`,
      enabled: true,
      pendingWindowInDays: 30,
      keyPolicy: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'AccountAdministersThroughIam',
            Effect: 'Allow',
            Principal: { AWS: `arn:${this.partition}:iam::${this.account}:root` },
            Action: 'kms:*',
            Resource: '*',
          },
        ],
      },
    });
    replica.applyRemovalPolicy(RemovalPolicy.RETAIN);
    new CfnAlias(this, `${id}DataKeyReplicaAlias`, { aliasName, targetKeyId: replica.attrKeyId });
    return replica;
  }
}
