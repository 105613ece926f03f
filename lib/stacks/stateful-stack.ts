import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { ClassificationSettingsSchema, DEFAULT_CLASSIFICATIONS, type ClassificationSettings } from '../../lambdas/contracts/classification';
import { DataKeys } from '../constructs/data-keys';
import { AuditTable } from '../constructs/audit-table';
import { TasksTable } from '../constructs/tasks-table';

export interface StatefulStackProps extends StackProps {
  removalPolicy: RemovalPolicy;
  /** Config `classifications`: one data key per level (default: internal, confidential, restricted). */
  classifications?: ClassificationSettings;
}

/** What must outlive every deployment: the platform key, the data keys per classification and the tasks table. */
export class StatefulStack extends Stack {
  readonly key: Key;
  readonly tasks: TasksTable;
  /** The tamper-evident audit log: one hash chain per tenant (docs/audit.md). */
  readonly audit: AuditTable;
  /** One KMS key per classification level, for envelope encryption of sensitive task data. */
  readonly dataKeys: DataKeys;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    this.key = new Key(this, 'PlatformKey', {
      description: 'Switchboard platform key: tasks table and queues',
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy,
    });
    this.dataKeys = new DataKeys(this, 'DataKeys', {
      classifications: props.classifications ?? ClassificationSettingsSchema.parse(DEFAULT_CLASSIFICATIONS),
      aliasPrefix: `alias/${this.stackName}/data`,
      removalPolicy: props.removalPolicy,
    });
    this.tasks = new TasksTable(this, 'Tasks', { encryptionKey: this.key, removalPolicy: props.removalPolicy });
    this.audit = new AuditTable(this, 'Audit', { encryptionKey: this.key, removalPolicy: props.removalPolicy });
  }
}
