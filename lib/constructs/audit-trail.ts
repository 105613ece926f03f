import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { ENV } from '../../lambdas/contracts/env';

/** Where audit digests go in the digest bucket (lambdas/adapters/s3-audit-digest-store.ts names them digests/<tenant>/<toSeq>.json). */
const DIGEST_OBJECTS_PREFIX = 'digests/';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { CfnEventDataStore, CfnTrail, Trail } from 'aws-cdk-lib/aws-cloudtrail';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { AccountRootPrincipal, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key, KeySpec, KeyUsage, type IKey } from 'aws-cdk-lib/aws-kms';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  CfnBucket,
  ObjectLockRetention,
  ObjectOwnership,
  StorageClass,
  type IBucket,
  type LifecycleRule,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** CloudTrail Lake's bounds for an event data store's retention (extendable retention pricing). */
export const LAKE_RETENTION_DAYS = { min: 7, max: 3653 } as const;
/** S3 Object Lock's bound for a default retention in days (100 years). */
export const OBJECT_LOCK_MAX_DAYS = 36_500;

export interface AuditTrailProps {
  /** Days every object of the trail and digest buckets stays locked (Object Lock, COMPLIANCE mode). */
  retentionDays: number;
  /** Days the CloudTrail Lake event data store keeps events (7–3653); retentionDays brought within those bounds when absent. */
  lakeRetentionDays?: number;
  /** Tables whose item reads and writes the trail records (DynamoDB data events). */
  tables: readonly ITable[];
  /**
   * Function names starting with one of these (in this stack's account and region) have their
   * invocations recorded (Lambda data events). Prefixes, not ARNs, so this stack depends on no
   * stack of functions and those stacks may use the audit resources (no cycle).
   */
  functionNamePrefixes: readonly string[];
  /** Further buckets whose object reads and writes the trail records; the digest bucket always is. */
  buckets?: readonly IBucket[];
  /** For the CloudWatch Logs copy of the trail only: the buckets, keys and Lake store are always retained. */
  removalPolicy: RemovalPolicy;
  /** Replicate the trail and digest buckets to Object Lock buckets of the DR region (lib/stacks/dr-stack.ts). */
  replication?: AuditReplication;
}

/**
 * Where the Object Lock buckets replicate to: the DR stack's buckets and key, named (not referenced:
 * they are in another region) by ARNs built from config.
 */
export interface AuditReplication {
  region: string;
  trailBucketArn: string;
  digestBucketArn: string;
  /** The DR region's key the replicas are encrypted with: its alias ARN (arn:…:kms:<region>:<account>:alias/<name>). */
  replicaKeyAliasArn: string;
}

/** CloudTrail's limit on the values of all advanced event selectors of one trail. */
const MAX_SELECTOR_VALUES = 250;

/**
 * What auditors read on AWS: a multi-region CloudTrail trail (log-file validation, KMS, CloudWatch
 * Logs copy, management events and data events for the tables, the functions and the buckets)
 * delivered to an Object Lock bucket; a CloudTrail Lake event data store for SQL queries; and, for
 * the platform's own audit log, a second Object Lock bucket for its signed digests plus the
 * asymmetric key that signs them. Locked objects cannot be deleted before their retention ends by
 * anyone, root included, so the buckets and the keys that decrypt or verify them are always retained.
 */
export class AuditTrail extends Construct {
  /** Encrypts the trail, its log group, the Lake store and both Object Lock buckets; rotates yearly. */
  readonly key: Key;
  readonly trailBucket: Bucket;
  /** Where the audit log writes its signed digests (Object Lock, COMPLIANCE, retentionDays). */
  readonly digestBucket: Bucket;
  /** Signs the audit log's digests (ECC_NIST_P256, SIGN_VERIFY): grant kms:Sign to the writer, kms:Verify to verifiers. */
  readonly digestSigningKey: Key;
  readonly accessLogBucket: Bucket;
  /** The role S3 replicates the trail and digest buckets with (when `replication` is set). */
  readonly replicationRole?: Role;
  readonly trail: Trail;
  readonly logGroup: LogGroup;
  readonly eventDataStore: CfnEventDataStore;

  constructor(scope: Construct, id: string, props: AuditTrailProps) {
    super(scope, id);
    // Log delivery to the access-log bucket granted by bucket policy, never by a legacy ACL, whatever the app's flags.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const lakeRetentionDays = props.lakeRetentionDays ?? Math.min(Math.max(props.retentionDays, LAKE_RETENTION_DAYS.min), LAKE_RETENTION_DAYS.max);
    validate(props, lakeRetentionDays);
    const stack = Stack.of(this);

    this.key = new Key(this, 'Key', {
      description: 'Switchboard audit key: CloudTrail trail and Lake store, their log group, the Object Lock buckets',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.grantKeyToServices(stack);

    this.accessLogBucket = accessLogBucket(this, 'AccessLogBucket', props.retentionDays);
    const lockedBucket = (bucketId: string, logPrefix: string) =>
      lockedAuditBucket(this, bucketId, { retentionDays: props.retentionDays, key: this.key, accessLogBucket: this.accessLogBucket, logPrefix });
    this.trailBucket = lockedBucket('TrailBucket', 'trail/');
    this.digestBucket = lockedBucket('DigestBucket', 'digests/');
    if (props.replication) this.replicationRole = this.replicate(stack, props.replication);

    this.digestSigningKey = new Key(this, 'DigestSigningKey', {
      description: 'Switchboard audit log: signs the periodic digests of the hash chains (verify with the public key)',
      keySpec: KeySpec.ECC_NIST_P256,
      keyUsage: KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.logGroup = new LogGroup(this, 'TrailLogGroup', {
      encryptionKey: this.key,
      retention: RetentionDays.ONE_YEAR,
      removalPolicy: props.removalPolicy,
    });
    this.trail = new Trail(this, 'Trail', {
      bucket: this.trailBucket,
      encryptionKey: this.key,
      isMultiRegionTrail: true,
      includeGlobalServiceEvents: true,
      enableFileValidation: true,
      sendToCloudWatchLogs: true,
      cloudWatchLogGroup: this.logGroup,
    });
    // The trail's key policy statements must exist before CloudTrail checks it can encrypt.
    this.trail.node.addDependency(this.key);

    const selectors = eventSelectors(stack, {
      tables: props.tables,
      functionNamePrefixes: props.functionNamePrefixes,
      buckets: [this.digestBucket, ...(props.buckets ?? [])],
    });
    const cfnTrail = this.trail.node.defaultChild as CfnTrail;
    cfnTrail.advancedEventSelectors = selectors;
    // Advanced and basic selectors are exclusive; the management events are one of the advanced ones.
    cfnTrail.addPropertyDeletionOverride('EventSelectors');

    this.eventDataStore = new CfnEventDataStore(this, 'EventDataStore', {
      advancedEventSelectors: selectors,
      multiRegionEnabled: true,
      organizationEnabled: false,
      retentionPeriod: lakeRetentionDays,
      terminationProtectionEnabled: true,
      billingMode: 'EXTENDABLE_RETENTION_PRICING',
      kmsKeyId: this.key.keyArn,
      ingestionEnabled: true,
    });
    this.eventDataStore.applyRemovalPolicy(RemovalPolicy.RETAIN);
    this.eventDataStore.node.addDependency(this.key);
  }

  /** CloudTrail (trail and Lake store, this account's only) and this region's CloudWatch Logs may use the key. */
  private grantKeyToServices(stack: Stack): void {
    const cloudTrail = new ServicePrincipal('cloudtrail.amazonaws.com');
    const ownAccount = { StringEquals: { 'aws:SourceAccount': stack.account } };
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudTrailEncryptsLogsAndLake',
        principals: [cloudTrail],
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: ['*'],
        conditions: ownAccount,
      }),
    );
    this.key.addToResourcePolicy(
      new PolicyStatement({ sid: 'CloudTrailDescribesKey', principals: [cloudTrail], actions: ['kms:DescribeKey'], resources: ['*'], conditions: ownAccount }),
    );
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AccountReadsTrailLogs',
        principals: [new AccountRootPrincipal()],
        actions: ['kms:Decrypt', 'kms:ReEncryptFrom'],
        resources: ['*'],
        conditions: { StringLike: { 'kms:EncryptionContext:aws:cloudtrail:arn': `arn:${stack.partition}:cloudtrail:*:${stack.account}:trail/*` } },
      }),
    );
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'LogsEncryptsTrailLogGroup',
        principals: [new ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:*` } },
      }),
    );
  }

  /**
   * Every new object version of the trail and digest buckets replicated, with its Object Lock
   * retention, to the DR region's Object Lock buckets, re-encrypted there with the DR key. The role
   * reads versions (and their retention) from these two buckets, decrypts with the audit key, writes
   * replicas to the two DR buckets and encrypts with the key behind the DR alias; delete markers are
   * not replicated (a locked version cannot be deleted anyway).
   */
  private replicate(stack: Stack, to: AuditReplication): Role {
    if (to.region === stack.region) throw new Error(`AuditTrail: replication region ${to.region} is this stack's own region`);
    const alias = /^arn:[^:]+:kms:([a-z0-9-]+):[^:]*:(alias\/.+)$/.exec(to.replicaKeyAliasArn);
    if (!alias || alias[1] !== to.region) throw new Error(`AuditTrail: replicaKeyAliasArn ${to.replicaKeyAliasArn} must be a KMS alias ARN in ${to.region}`);
    const role = new Role(this, 'ReplicationRole', {
      assumedBy: new ServicePrincipal('s3.amazonaws.com'),
      description: 'S3 replication of the audit Object Lock buckets to the DR region',
    });
    const pairs = [
      [this.trailBucket, to.trailBucketArn],
      [this.digestBucket, to.digestBucketArn],
    ] as const;
    role.addToPolicy(new PolicyStatement({ actions: ['s3:GetReplicationConfiguration', 's3:ListBucket'], resources: pairs.map(([source]) => source.bucketArn) }));
    role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:GetObjectVersionForReplication', 's3:GetObjectVersionAcl', 's3:GetObjectVersionTagging', 's3:GetObjectRetention', 's3:GetObjectLegalHold'],
        resources: pairs.map(([source]) => source.arnForObjects('*')),
      }),
    );
    role.addToPolicy(new PolicyStatement({ actions: ['s3:ReplicateObject', 's3:ReplicateTags'], resources: pairs.map(([, destination]) => `${destination}/*`) }));
    role.addToPolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } },
      }),
    );
    // The DR key is in another stack and region: named by its alias (kms:ResourceAliases), not by an ARN this stack cannot know.
    role.addToPolicy(
      new PolicyStatement({
        actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [`arn:${stack.partition}:kms:${to.region}:${stack.account}:key/*`],
        conditions: {
          'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [alias[2]!] },
          StringEquals: { 'kms:ViaService': `s3.${to.region}.amazonaws.com` },
        },
      }),
    );
    for (const [source, destination] of pairs) {
      (source.node.defaultChild as CfnBucket).replicationConfiguration = {
        role: role.roleArn,
        rules: [
          {
            id: 'dr-region',
            status: 'Enabled',
            priority: 1,
            filter: { prefix: '' },
            deleteMarkerReplication: { status: 'Disabled' },
            sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: 'Enabled' } },
            destination: { bucket: destination, encryptionConfiguration: { replicaKmsKeyId: to.replicaKeyAliasArn } },
          },
        ],
      };
    }
    return role;
  }

  /**
   * Lets `fn` sign audit digests with the digest signing key (`sign`, the digest writer: also writes
   * them to the digest bucket, AUDIT_DIGEST_BUCKET) or verify them (`verify`, the auditors' tools):
   * sets AUDIT_SIGNING_KEY_ARN and grants that one KMS action.
   */
  bindDigestSigning(fn: LambdaFunction, access: 'sign' | 'verify'): void {
    fn.addEnvironment(ENV.auditSigningKeyArn, this.digestSigningKey.keyArn);
    this.digestSigningKey.grant(fn, access === 'sign' ? 'kms:Sign' : 'kms:Verify');
    if (access === 'sign') {
      // The signer writes each digest to the Object Lock bucket too (put only: nothing there can be overwritten or deleted).
      fn.addEnvironment(ENV.auditDigestBucket, this.digestBucket.bucketName);
      fn.addToRolePolicy(new PolicyStatement({ actions: ['s3:PutObject'], resources: [this.digestBucket.arnForObjects(`${DIGEST_OBJECTS_PREFIX}*`)] }));
      // The bucket's KMS key (bucket keys on): what a put into it needs.
      this.key.grant(fn, 'kms:GenerateDataKey');
    }
  }
}

/** The server access-log bucket of the audit buckets: SSE-S3 (the only encryption log delivery takes), versioned, retained. */
export const accessLogBucket = (scope: Construct, id: string, retentionDays: number, bucketName?: string): Bucket =>
  new Bucket(scope, id, {
    ...(bucketName ? { bucketName } : {}),
    // S3 server access logs can only be delivered to SSE-S3 buckets.
    encryption: BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
    objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
    versioned: true,
    lifecycleRules: lifecycle(retentionDays),
    removalPolicy: RemovalPolicy.RETAIN,
  });

/**
 * An audit bucket: Object Lock COMPLIANCE for `retentionDays` on every version, KMS with a bucket key,
 * TLS 1.2+, no public access, server access logs, always retained. The DR stack's replicas are the same.
 */
export const lockedAuditBucket = (
  scope: Construct,
  id: string,
  props: { retentionDays: number; key: IKey; accessLogBucket: IBucket; logPrefix: string; bucketName?: string },
): Bucket =>
  new Bucket(scope, id, {
    ...(props.bucketName ? { bucketName: props.bucketName } : {}),
    objectLockEnabled: true,
    objectLockDefaultRetention: ObjectLockRetention.compliance(Duration.days(props.retentionDays)),
    versioned: true,
    encryption: BucketEncryption.KMS,
    encryptionKey: props.key,
    bucketKeyEnabled: true,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
    objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
    serverAccessLogsBucket: props.accessLogBucket,
    serverAccessLogsPrefix: props.logPrefix,
    lifecycleRules: lifecycle(props.retentionDays),
    removalPolicy: RemovalPolicy.RETAIN,
  });

const validate = (props: AuditTrailProps, lakeRetentionDays: number): void => {
  if (!Number.isInteger(props.retentionDays) || props.retentionDays < 1 || props.retentionDays > OBJECT_LOCK_MAX_DAYS) {
    throw new Error(`AuditTrail: retentionDays ${props.retentionDays} must be a whole number of days from 1 to ${OBJECT_LOCK_MAX_DAYS} (Object Lock)`);
  }
  if (!Number.isInteger(lakeRetentionDays) || lakeRetentionDays < LAKE_RETENTION_DAYS.min || lakeRetentionDays > LAKE_RETENTION_DAYS.max) {
    throw new Error(
      `AuditTrail: lakeRetentionDays ${lakeRetentionDays} must be a whole number of days from ${LAKE_RETENTION_DAYS.min} to ${LAKE_RETENTION_DAYS.max} (CloudTrail Lake)`,
    );
  }
  if (!props.tables.length && !props.functionNamePrefixes.length) {
    throw new Error('AuditTrail: name at least one table or function prefix whose data events the trail records');
  }
  if (props.functionNamePrefixes.some((prefix) => !/^[A-Za-z0-9_-]{1,63}$/.test(prefix))) {
    throw new Error('AuditTrail: a function name prefix is letters, digits, - and _ (1–63), so it matches only function names');
  }
  const values = props.tables.length + props.functionNamePrefixes.length + 1 + (props.buckets?.length ?? 0);
  if (values > MAX_SELECTOR_VALUES) {
    throw new Error(`AuditTrail: ${values} data resources exceed CloudTrail's ${MAX_SELECTOR_VALUES} selector values per trail`);
  }
};

/**
 * Infrequent access after 30 days, Glacier after 90 when the retention outlasts it, current
 * versions expire the day after their lock ends; an Object Lock bucket keeps every version until then.
 */
const lifecycle = (retentionDays: number): LifecycleRule[] => [
  {
    id: 'audit-retention',
    abortIncompleteMultipartUploadAfter: Duration.days(7),
    transitions: [
      ...(retentionDays > 60 ? [{ storageClass: StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(30) }] : []),
      ...(retentionDays > 180 ? [{ storageClass: StorageClass.GLACIER, transitionAfter: Duration.days(90) }] : []),
    ],
    expiration: Duration.days(retentionDays + 1),
    noncurrentVersionExpiration: Duration.days(1),
  },
];

interface DataResources {
  tables: readonly ITable[];
  functionNamePrefixes: readonly string[];
  buckets: readonly IBucket[];
}

/** Management events, then the data events of each resource kind, as CloudTrail advanced event selectors. */
const eventSelectors = (stack: Stack, resources: DataResources): CfnTrail.AdvancedEventSelectorProperty[] => {
  const data = (name: string, type: string, field: { equalTo: string[] } | { startsWith: string[] }) => ({
    name,
    fieldSelectors: [
      { field: 'eventCategory', equalTo: ['Data'] },
      { field: 'resources.type', equalTo: [type] },
      { field: 'resources.ARN', ...field },
    ],
  });
  const functionArn = (prefix: string) => `arn:${stack.partition}:lambda:${stack.region}:${stack.account}:function:${prefix}`;
  return [
    { name: 'Management events', fieldSelectors: [{ field: 'eventCategory', equalTo: ['Management'] }] },
    ...(resources.tables.length ? [data('Table items', 'AWS::DynamoDB::Table', { equalTo: resources.tables.map((t) => t.tableArn) })] : []),
    ...(resources.functionNamePrefixes.length
      ? [data('Function invocations', 'AWS::Lambda::Function', { startsWith: resources.functionNamePrefixes.map(functionArn) })]
      : []),
    data('Bucket objects', 'AWS::S3::Object', { startsWith: resources.buckets.map((b) => `${b.bucketArn}/`) }),
  ];
};
