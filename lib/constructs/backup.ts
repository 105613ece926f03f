import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { BackupPlan, BackupPlanRule, BackupResource, BackupSelection, BackupVault, type LockConfiguration } from 'aws-cdk-lib/aws-backup';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Schedule } from 'aws-cdk-lib/aws-events';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/** AWS Backup Vault Lock: recovery points kept at least (and at most) so long; `changeableForDays` makes it compliance mode. */
export interface VaultLockSettings {
  minRetentionDays: number;
  maxRetentionDays: number;
  /** Absent: governance mode (a privileged user may remove the lock). Present (≥ 3): compliance mode after that many days. */
  changeableForDays?: number | undefined;
}

/** AWS Backup's cron expressions: six fields (minutes hours day-of-month month day-of-week year), UTC. */
const BACKUP_CRON = /^cron\((\S+ ){5}\S+\)$/;
const MAX_DAYS = 36_500;

/** The lock as CDK takes it, after checking it and that each of `retentions` (name → days) fits it. */
export const vaultLock = (who: string, lock: VaultLockSettings, retentions: Readonly<Record<string, number>>): LockConfiguration => {
  const days = (n: number) => Number.isInteger(n) && n >= 1 && n <= MAX_DAYS;
  if (!days(lock.minRetentionDays) || !days(lock.maxRetentionDays) || lock.minRetentionDays > lock.maxRetentionDays) {
    throw new Error(`${who}: vault lock retention ${lock.minRetentionDays}–${lock.maxRetentionDays} days must be whole days, 1–${MAX_DAYS}, min ≤ max`);
  }
  if (lock.changeableForDays !== undefined && (!Number.isInteger(lock.changeableForDays) || lock.changeableForDays < 3)) {
    throw new Error(`${who}: vault lock changeableForDays ${lock.changeableForDays} must be at least 3 (AWS Backup's compliance-mode grace time)`);
  }
  for (const [name, retention] of Object.entries(retentions)) {
    if (!Number.isInteger(retention) || retention < lock.minRetentionDays || retention > lock.maxRetentionDays) {
      throw new Error(`${who}: ${name} ${retention} days is outside the vault lock's ${lock.minRetentionDays}–${lock.maxRetentionDays} days`);
    }
  }
  return {
    minRetention: Duration.days(lock.minRetentionDays),
    maxRetention: Duration.days(lock.maxRetentionDays),
    ...(lock.changeableForDays !== undefined ? { changeableFor: Duration.days(lock.changeableForDays) } : {}),
  };
};

/**
 * A locked vault for recovery points: encrypted with a key of its own (rotated, retained), Vault Lock
 * on, and an access policy that denies deleting recovery points or shortening their lifecycle to
 * everyone (the lifecycle still expires them). Always retained.
 */
export class LockedVault extends Construct {
  readonly key: Key;
  readonly vault: BackupVault;

  constructor(scope: Construct, id: string, props: { vaultName?: string; description: string; lock: LockConfiguration }) {
    super(scope, id);
    this.key = new Key(this, 'Key', { description: props.description, enableKeyRotation: true, removalPolicy: RemovalPolicy.RETAIN });
    this.vault = new BackupVault(this, 'Vault', {
      ...(props.vaultName ? { backupVaultName: props.vaultName } : {}),
      encryptionKey: this.key,
      lockConfiguration: props.lock,
      blockRecoveryPointDeletion: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}

export interface TableBackupProps {
  /** The tables the plan selects (every table of the app). */
  tables: readonly ITable[];
  /** When: an AWS Backup cron expression, UTC (config dr.backup.schedule). */
  schedule: string;
  /** Days each backup stays in this region's vault. */
  retentionDays: number;
  /** The DR region's vault (an ARN built from config: the vault is in another stack and region) and how long its copies stay. */
  copy: { vaultArn: string; retentionDays: number };
  /** Vault Lock of this region's vault (the DR vault carries its own). */
  lock: VaultLockSettings;
}

/**
 * The tables' AWS Backup plan: a locked vault in this region (its own KMS key), one rule on the
 * configured schedule keeping each backup `retentionDays`, and a copy of each into the DR region's
 * vault kept `copy.retentionDays`. The selection's role is AWS Backup's service role (backup and
 * restore managed policies). Cross-region copies of DynamoDB backups need AWS Backup's advanced
 * DynamoDB features turned on in the account (docs/disaster-recovery.md).
 */
export class TableBackup extends Construct {
  readonly vault: LockedVault;
  readonly plan: BackupPlan;
  readonly selection: BackupSelection;

  constructor(scope: Construct, id: string, props: TableBackupProps) {
    super(scope, id);
    if (!props.tables.length) throw new Error('TableBackup: no table to back up');
    if (!BACKUP_CRON.test(props.schedule)) throw new Error(`TableBackup: schedule "${props.schedule}" is not an AWS Backup cron expression such as cron(0 3 * * ? *)`);
    const region = Stack.of(this).region;
    if (props.copy.vaultArn.split(':')[3] === region) throw new Error(`TableBackup: the copy's vault is in ${region}, the tables' own region; copies go to the DR region`);
    const lock = vaultLock('TableBackup', props.lock, { retentionDays: props.retentionDays });
    if (!Number.isInteger(props.copy.retentionDays) || props.copy.retentionDays < 1) throw new Error(`TableBackup: copy retention ${props.copy.retentionDays} must be a whole number of days`);

    this.vault = new LockedVault(this, 'Vault', { description: 'Switchboard backups: the tables\' recovery points in the primary region', lock });
    this.plan = new BackupPlan(this, 'Plan', {
      backupVault: this.vault.vault,
      backupPlanRules: [
        new BackupPlanRule({
          ruleName: 'Tables',
          scheduleExpression: Schedule.expression(props.schedule),
          deleteAfter: Duration.days(props.retentionDays),
          copyActions: [
            {
              destinationBackupVault: BackupVault.fromBackupVaultArn(this, 'DrVault', props.copy.vaultArn),
              deleteAfter: Duration.days(props.copy.retentionDays),
            },
          ],
        }),
      ],
    });
    this.selection = this.plan.addSelection('Tables', {
      resources: props.tables.map((table) => BackupResource.fromDynamoDbTable(table)),
      allowRestores: true,
    });
  }
}
