import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { AuditTrail, type AuditReplication } from '../constructs/audit-trail';
import { acknowledgeAuditTrail } from '../nag-suppressions';

export interface AuditStackProps extends StackProps {
  retentionDays: number;
  lakeRetentionDays?: number;
  /** The tasks and audit tables (the Stateful stack exports their ARNs: this stack depends on Stateful only). */
  tables: readonly ITable[];
  /** Names of the platform's functions start with these (the other stacks' names): see AuditTrail. */
  functionNamePrefixes: readonly string[];
  removalPolicy: RemovalPolicy;
  /** Config dr: replicate the Object Lock buckets to the DR stack's (named by ARNs built from config). */
  replication?: AuditReplication;
}

/**
 * What auditors read on AWS: the trail, the Lake store, the Object Lock buckets and the digest
 * signing key. It references the Stateful stack only, so the stacks of functions may use its
 * digest bucket and signing key without a cycle.
 */
export class AuditStack extends Stack {
  readonly audit: AuditTrail;

  constructor(scope: Construct, id: string, props: AuditStackProps) {
    super(scope, id, props);
    this.audit = new AuditTrail(this, 'Audit', {
      retentionDays: props.retentionDays,
      lakeRetentionDays: props.lakeRetentionDays,
      tables: props.tables,
      functionNamePrefixes: props.functionNamePrefixes,
      removalPolicy: props.removalPolicy,
      ...(props.replication ? { replication: props.replication } : {}),
    });
    acknowledgeAuditTrail(this.audit);
  }
}
