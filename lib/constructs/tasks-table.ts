import { RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import { AttributeType, Billing, BillingMode, ProjectionType, Table, TableEncryption, TableEncryptionV2, TableV2, type GlobalSecondaryIndexProps } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ENV, TASKS_TABLE, TASKS_TABLE_INDEXES, type TasksTableIndex } from '../../lambdas/contracts';
import { TASKS_TABLE_TTL_ATTRIBUTE } from '../../lambdas/contracts/tasks-table';

/**
 * Access to some partitions of the table only: `actions` on the table itself (`table`) and on the
 * named indexes, allowed only while every partition key value of the request matches one of
 * `leadingKeys` (IAM `dynamodb:LeadingKeys`, ForAllValues:StringLike; `*` and policy variables
 * such as `${aws:PrincipalTag/tenant}` allowed). Never list Scan or any action without a
 * partition key: ForAllValues holds for a request that has none.
 */
export interface PartitionGrant {
  actions: readonly PartitionAction[];
  table: boolean;
  indexes: readonly TasksTableIndex['indexName'][];
  leadingKeys: readonly string[];
}
/** Item actions that always name a partition key (so LeadingKeys constrains them). */
export const PARTITION_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:ConditionCheckItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
] as const;
export type PartitionAction = (typeof PARTITION_ACTIONS)[number];

export interface TasksTableProps {
  encryptionKey: IKey;
  removalPolicy: RemovalPolicy;
  /** A hot-standby replica in another region (config dr.replicas): the table becomes a global table. */
  replica?: TableReplica;
}

/**
 * A replica of a table in the DR region: its region and the KMS key that encrypts it there (an ARN,
 * or an alias ARN such as the DR stack's `alias/<app>-DR/tables`: the key is in another stack and region).
 */
export interface TableReplica {
  region: string;
  keyArn: string;
}

/** The table's index, as both table classes take it. */
type IndexProps = Pick<GlobalSecondaryIndexProps, 'indexName' | 'partitionKey' | 'sortKey' | 'projectionType' | 'nonKeyAttributes'>;

/**
 * A table with the platform's defaults (`secureTableProps`), at `scope/id`: a `Table` (AWS::DynamoDB::Table),
 * or with `replica` a `TableV2` (AWS::DynamoDB::GlobalTable) whose replica keeps the same PITR and deletion
 * protection. Both get the same logical id (the path's), so the id stays pinned; CloudFormation cannot
 * change a resource's type in place, so switching a deployed table is the migration in docs/disaster-recovery.md.
 */
export const secureTable = (
  scope: Construct,
  id: string,
  keys: { partitionKey: string; sortKey: string },
  props: { encryptionKey: IKey; removalPolicy: RemovalPolicy; replica?: TableReplica | undefined },
  extra: { timeToLiveAttribute?: string; indexes?: readonly IndexProps[] } = {},
): Table | TableV2 => {
  const base = secureTableProps(keys, props);
  if (!props.replica) {
    const table = new Table(scope, id, { ...base, ...(extra.timeToLiveAttribute ? { timeToLiveAttribute: extra.timeToLiveAttribute } : {}) });
    for (const index of extra.indexes ?? []) table.addGlobalSecondaryIndex(index);
    return table;
  }
  const { region, keyArn } = props.replica;
  const stackRegion = Stack.of(scope).region;
  if (Token.isUnresolved(stackRegion)) throw new Error(`${id}: a table with a replica needs its stack's region set (env.region)`);
  if (region === stackRegion) throw new Error(`${id}: the replica's region ${region} is the table's own region`);
  const table = new TableV2(scope, id, {
    partitionKey: base.partitionKey,
    sortKey: base.sortKey,
    billing: Billing.onDemand(),
    encryption: TableEncryptionV2.customerManagedKey(props.encryptionKey, { [region]: keyArn }),
    pointInTimeRecoverySpecification: base.pointInTimeRecoverySpecification,
    deletionProtection: base.deletionProtection,
    removalPolicy: base.removalPolicy,
    ...(extra.timeToLiveAttribute ? { timeToLiveAttribute: extra.timeToLiveAttribute } : {}),
    globalSecondaryIndexes: [...(extra.indexes ?? [])],
    replicas: [{ region, deletionProtection: base.deletionProtection, pointInTimeRecoverySpecification: base.pointInTimeRecoverySpecification }],
  });
  return table;
};

/**
 * The platform's table defaults (one place for every table): string keys, on demand, a customer-managed
 * key, point-in-time recovery, and deletion protection whenever the table is retained.
 */
export const secureTableProps = (keys: { partitionKey: string; sortKey: string }, props: { encryptionKey: IKey; removalPolicy: RemovalPolicy }) => ({
  partitionKey: { name: keys.partitionKey, type: AttributeType.STRING },
  sortKey: { name: keys.sortKey, type: AttributeType.STRING },
  billingMode: BillingMode.PAY_PER_REQUEST,
  encryption: TableEncryption.CUSTOMER_MANAGED,
  encryptionKey: props.encryptionKey,
  pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
  deletionProtection: props.removalPolicy === RemovalPolicy.RETAIN,
  removalPolicy: props.removalPolicy,
});

/**
 * The tasks table: on-demand, encrypted with the platform's customer-managed key, point-in-time
 * recovery on, deletion protection whenever it is retained. Keys come from TASKS_TABLE,
 * the definition the repository and the local cloud use too.
 */
export class TasksTable extends Construct {
  /** A global table (TableV2) when the props name a replica. */
  readonly table: Table | TableV2;
  readonly encryptionKey: IKey;

  constructor(scope: Construct, id: string, props: TasksTableProps) {
    super(scope, id);
    this.encryptionKey = props.encryptionKey;
    this.table = secureTable(this, 'Table', TASKS_TABLE, props, {
      timeToLiveAttribute: TASKS_TABLE_TTL_ATTRIBUTE,
      indexes: TASKS_TABLE_INDEXES.map((index) => ({
        indexName: index.indexName,
        partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
        sortKey: { name: index.sortKey, type: AttributeType.STRING },
        ...(index.include.length
          ? { projectionType: ProjectionType.INCLUDE, nonKeyAttributes: [...index.include] }
          : { projectionType: ProjectionType.KEYS_ONLY }),
      })),
    });
  }

  /** Sets the function's table variable and grants it exactly the access it asks for, in one call. */
  bind(fn: LambdaFunction, access: 'read' | 'readWrite'): void {
    fn.addEnvironment(ENV.tasksTable, this.table.tableName);
    const grantee: IGrantable = fn;
    if (access === 'read') this.table.grantReadData(grantee);
    else this.table.grantReadWriteData(grantee);
  }

  /** Sets the function's table variable only: its access comes from `grantPartitions` (tenant-facing functions). */
  bindName(fn: LambdaFunction): void {
    fn.addEnvironment(ENV.tasksTable, this.table.tableName);
  }

  /** Grants `grantee` the partition-conditioned access of `grant`, and the table key's use for it. */
  grantPartitions(grantee: IGrantable, grant: PartitionGrant): void {
    if (grant.leadingKeys.length === 0) throw new Error('TasksTable.grantPartitions: leadingKeys is empty (that would be unconditioned access)');
    const actions = grant.actions.filter((action) => !(PARTITION_ACTIONS as readonly string[]).includes(action));
    if (actions.length) throw new Error(`TasksTable.grantPartitions: ${actions.join(', ')} may name no partition key; LeadingKeys cannot constrain it`);
    const resources = [
      ...(grant.table ? [this.table.tableArn] : []),
      ...grant.indexes.map((index) => `${this.table.tableArn}/index/${index}`),
    ];
    if (resources.length === 0) throw new Error('TasksTable.grantPartitions: neither the table nor an index');
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [...grant.actions],
        resources,
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...grant.leadingKeys] } },
      }),
    );
    const writes = grant.actions.some((action) => /Put|Update|Delete|Write/.test(action));
    if (writes) this.encryptionKey.grantEncryptDecrypt(grantee);
    else this.encryptionKey.grantDecrypt(grantee);
  }
}
