import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { ClassificationSettingsSchema, DEFAULT_CLASSIFICATIONS, type ClassificationSettings } from '../../lambdas/contracts/classification';
import { DataKeys } from '../constructs/data-keys';
import { AuditTable } from '../constructs/audit-table';
import { TasksTable, type TableReplica } from '../constructs/tasks-table';
import { TableBackup, type TableBackupProps } from '../constructs/backup';
import { acknowledgeBackup } from '../nag-suppressions';

export interface StatefulStackProps extends StackProps {
  removalPolicy: RemovalPolicy;
  /** Config `classifications`: one data key per level (default: internal, confidential, restricted). */
  classifications?: ClassificationSettings;
  /** Config dr: the tables' AWS Backup plan, with copies to the DR region's vault (docs/disaster-recovery.md). */
  backup?: Omit<TableBackupProps, 'tables'>;
  /** Config dr.replicas: each table keeps a replica in the DR region (global tables). */
  replica?: TableReplica;
}

/** What must outlive every deployment: the platform key, the data keys per classification, the tasks and audit tables and their backups. */
export class StatefulStack extends Stack {
  readonly key: Key;
  readonly tasks: TasksTable;
  /** The tamper-evident audit log: one hash chain per tenant (docs/audit.md). */
  readonly audit: AuditTable;
  /** One KMS key per classification level, for envelope encryption of sensitive task data. */
  readonly dataKeys: DataKeys;
  /** The tables' backup plan and vault (config dr). */
  readonly backup?: TableBackup;

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
    const replica = props.replica ? { replica: props.replica } : {};
    this.tasks = new TasksTable(this, 'Tasks', { encryptionKey: this.key, removalPolicy: props.removalPolicy, ...replica });
    this.audit = new AuditTable(this, 'Audit', { encryptionKey: this.key, removalPolicy: props.removalPolicy, ...replica });
    // Every table of the app is in this stack: the plan selects them all.
    if (props.backup) {
      this.backup = new TableBackup(this, 'Backup', { ...props.backup, tables: [this.tasks.table, this.audit.table] });
      acknowledgeBackup(this.backup);
    }
  }
}
