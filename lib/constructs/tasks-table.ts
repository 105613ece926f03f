import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ENV, TASKS_TABLE, TASKS_TABLE_INDEXES } from '../../lambdas/contracts';

export interface TasksTableProps {
  encryptionKey: IKey;
  removalPolicy: RemovalPolicy;
}

/**
 * The tasks table: on-demand, encrypted with the platform's customer-managed key, point-in-time
 * recovery on, deletion protection whenever it is retained. Keys come from TASKS_TABLE,
 * the definition the repository and the local cloud use too.
 */
export class TasksTable extends Construct {
  readonly table: Table;

  constructor(scope: Construct, id: string, props: TasksTableProps) {
    super(scope, id);
    const retained = props.removalPolicy === RemovalPolicy.RETAIN;
    this.table = new Table(this, 'Table', {
      partitionKey: { name: TASKS_TABLE.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TASKS_TABLE.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.encryptionKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: retained,
      removalPolicy: props.removalPolicy,
    });
    for (const index of TASKS_TABLE_INDEXES) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
        sortKey: { name: index.sortKey, type: AttributeType.STRING },
        ...(index.include.length
          ? { projectionType: ProjectionType.INCLUDE, nonKeyAttributes: [...index.include] }
          : { projectionType: ProjectionType.KEYS_ONLY }),
      });
    }
  }

  /** Sets the function's table variable and grants it exactly the access it asks for, in one call. */
  bind(fn: LambdaFunction, access: 'read' | 'readWrite'): void {
    fn.addEnvironment(ENV.tasksTable, this.table.tableName);
    const grantee: IGrantable = fn;
    if (access === 'read') this.table.grantReadData(grantee);
    else this.table.grantReadWriteData(grantee);
  }
}
