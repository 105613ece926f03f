import { RemovalPolicy } from 'aws-cdk-lib';
import type { Table, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { AUDIT_TABLE, AUDIT_TENANTS_PK, auditKeys } from '../../lambdas/contracts/audit';
import { ENV } from '../../lambdas/contracts/env';
import { secureTable, type TableReplica } from './tasks-table';

/** The audit table's only partitions: the chains (AUDIT#<tenant>) and the tenants' list. */
const AUDIT_PARTITIONS = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [auditKeys.tenant('*'), AUDIT_TENANTS_PK] } };

export interface AuditTableProps {
  encryptionKey: IKey;
  removalPolicy: RemovalPolicy;
  /** A hot-standby replica in another region (config dr.replicas): the table becomes a global table. */
  replica?: TableReplica;
}

/**
 * The audit log's table (docs/audit.md): one hash chain per tenant, keys from AUDIT_TABLE. On-demand,
 * encrypted with a customer-managed key, point-in-time recovery on, no TTL (entries are never expired
 * by the table), deletion protection whenever it is retained. Access is granted append-only: writers
 * get PutItem and Query, never UpdateItem or DeleteItem.
 */
export class AuditTable extends Construct {
  /** A global table (TableV2) when the props name a replica. */
  readonly table: Table | TableV2;
  readonly encryptionKey: IKey;

  constructor(scope: Construct, id: string, props: AuditTableProps) {
    super(scope, id);
    if (props.removalPolicy === RemovalPolicy.SNAPSHOT) throw new Error('AuditTable: removalPolicy SNAPSHOT is not supported by DynamoDB tables; use RETAIN or DESTROY');
    this.encryptionKey = props.encryptionKey;
    this.table = secureTable(this, 'Table', AUDIT_TABLE, props);
  }

  /** Sets AUDIT_TABLE_NAME on `fn` and grants `access` (append: the writers; read: verify and query only). */
  bind(fn: LambdaFunction, access: 'append' | 'read'): void {
    fn.addEnvironment(ENV.auditTable, this.table.tableName);
    if (access === 'append') this.grantAppend(fn);
    else this.grantRead(fn);
  }

  /** Appending entries (and digests): read the head, put a new item. Never update or delete. */
  grantAppend(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:GetItem'], resources: [this.table.tableArn], conditions: AUDIT_PARTITIONS }),
    );
    this.encryptionKey.grantEncryptDecrypt(grantee);
  }

  /** Verifying and querying: read only. */
  grantRead(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['dynamodb:Query', 'dynamodb:GetItem'], resources: [this.table.tableArn], conditions: AUDIT_PARTITIONS }),
    );
    this.encryptionKey.grantDecrypt(grantee);
  }
}
