import type { SwitchboardConfig } from '../../lib/config';
import { ENV } from '../../lambdas/contracts';
import type { CfnResource, SynthesizedStack } from '../local-cloud/synth';

/**
 * The restore runbook for the deployed stacks (docs/drill.md, AWS mode): exact AWS CLI commands, the
 * names and ARNs derived from the synthesized templates (stack names, logical IDs) and the config
 * (regions), and the checks a dry run can make offline. Nothing here calls AWS.
 */

interface Found {
  stack: string;
  id: string;
  resource: CfnResource;
}

const all = (stacks: readonly SynthesizedStack[], type: string): Found[] =>
  stacks.flatMap(({ stackName, template }) =>
    Object.entries(template.Resources)
      .filter(([, resource]) => resource.Type === type)
      .map(([id, resource]) => ({ stack: stackName, id, resource })),
  );

const prop = (resource: CfnResource, ...path: string[]): unknown => path.reduce<unknown>((value, key) => (value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined), resource.Properties);
/** Whether `value` (a property, with its intrinsics) mentions the logical id `id` (Ref, GetAtt, or a cross-stack import of it). */
const mentions = (value: unknown, id: string) => JSON.stringify(value ?? null).includes(id);

/** A template value as text: literal strings, Fn::Join of them, the partition and account as the shell has them (aws, $ACCOUNT). */
const render = (value: unknown): string => {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown> | undefined;
  if (v?.['Ref'] === 'AWS::Partition') return 'aws';
  if (v?.['Ref'] === 'AWS::AccountId') return '$ACCOUNT';
  if (v?.['Ref'] === 'AWS::Region') return '$AWS_REGION';
  const join = v?.['Fn::Join'] as [string, unknown[]] | undefined;
  if (Array.isArray(join) && Array.isArray(join[1])) return join[1].map(render).join(join[0]);
  return JSON.stringify(value);
};

/** A DR stack: named …-DR / …-Dr / …-DisasterRecovery. */
const isDrStack = (name: string) => /(^|-)(dr|disasterrecovery)(-|$)/i.test(name);

export interface Inventory {
  region: string;
  drRegion: string | undefined;
  tables: { stack: string; id: string; role: 'tasks' | 'audit' | 'table'; pitr: boolean; deletionProtection: boolean; ttl: string | undefined; keyId: string | undefined }[];
  vaults: { stack: string; id: string; name: string | undefined; locked: boolean; dr: boolean }[];
  plans: { stack: string; id: string; copyTo: string[]; rules: number }[];
  selections: { stack: string; id: string; tables: string[]; byTags: boolean; roleId: string | undefined }[];
  drStacks: string[];
  signingKey: { stack: string; id: string } | undefined;
}

/** The config's DR region, wherever a later key puts it (a string under a key naming a region, other than the primary). */
const drRegionOf = (config: SwitchboardConfig): string | undefined => {
  const found: string[] = [];
  const walk = (value: unknown, key: string) => {
    if (typeof value === 'string' && /region/i.test(key) && key !== 'primaryRegion' && /^[a-z]{2}(-[a-z]+)+-\d$/.test(value)) found.push(value);
    else if (value && typeof value === 'object' && !Array.isArray(value)) for (const [k, v] of Object.entries(value)) walk(v, k);
  };
  walk(config, '');
  return found.find((region) => region !== config.primaryRegion);
};

/** What the templates declare that a restore needs: tables, vaults, plans, selections, the DR stack, the digest signing key. */
export const inventory = (stacks: readonly SynthesizedStack[], config: SwitchboardConfig): Inventory => {
  const functions = all(stacks, 'AWS::Lambda::Function');
  const roleOf = (id: string): Inventory['tables'][number]['role'] => {
    const variables = (name: string) => functions.some((fn) => mentions(prop(fn.resource, 'Environment', 'Variables', name), id));
    return variables(ENV.auditTable) ? 'audit' : variables(ENV.tasksTable) ? 'tasks' : 'table';
  };
  const keys = all(stacks, 'AWS::KMS::Key');
  const tables = all(stacks, 'AWS::DynamoDB::Table')
    .filter((t) => !isDrStack(t.stack))
    .map((t) => ({
      stack: t.stack,
      id: t.id,
      role: roleOf(t.id),
      pitr: prop(t.resource, 'PointInTimeRecoverySpecification', 'PointInTimeRecoveryEnabled') === true,
      deletionProtection: prop(t.resource, 'DeletionProtectionEnabled') === true,
      ttl: prop(t.resource, 'TimeToLiveSpecification', 'Enabled') === true ? String(prop(t.resource, 'TimeToLiveSpecification', 'AttributeName')) : undefined,
      keyId: keys.find((k) => mentions(prop(t.resource, 'SSESpecification', 'KMSMasterKeyId'), k.id))?.id,
    }));
  const vaults = all(stacks, 'AWS::Backup::BackupVault').map((v) => ({
    stack: v.stack,
    id: v.id,
    name: typeof prop(v.resource, 'BackupVaultName') === 'string' ? (prop(v.resource, 'BackupVaultName') as string) : undefined,
    locked: prop(v.resource, 'LockConfiguration') !== undefined,
    dr: isDrStack(v.stack),
  }));
  const plans = all(stacks, 'AWS::Backup::BackupPlan').map((p) => {
    const rules = (prop(p.resource, 'BackupPlan', 'BackupPlanRule') ?? []) as Record<string, unknown>[];
    return {
      stack: p.stack,
      id: p.id,
      rules: rules.length,
      copyTo: rules.flatMap((rule) => ((rule['CopyActions'] ?? []) as Record<string, unknown>[]).map((copy) => render(copy['DestinationBackupVaultArn']))),
    };
  });
  const selections = all(stacks, 'AWS::Backup::BackupSelection').map((s) => {
    const selection = prop(s.resource, 'BackupSelection');
    const roleId = all(stacks, 'AWS::IAM::Role').find((role) => mentions(prop(s.resource, 'BackupSelection', 'IamRoleArn'), role.id))?.id;
    return {
      stack: s.stack,
      id: s.id,
      tables: tables.filter((t) => mentions(prop(s.resource, 'BackupSelection', 'Resources'), t.id)).map((t) => t.id),
      byTags: mentions(selection, 'ListOfTags') || mentions(selection, 'Conditions'),
      roleId,
    };
  });
  const signing = keys.find((k) => prop(k.resource, 'KeySpec') === 'ECC_NIST_P256' && prop(k.resource, 'KeyUsage') === 'SIGN_VERIFY');
  const copyRegion = plans.flatMap((p) => p.copyTo).map((arn) => /arn:aws[\w-]*:backup:([a-z0-9-]+):/.exec(arn)?.[1]).find(Boolean);
  return {
    region: config.primaryRegion,
    drRegion: drRegionOf(config) ?? copyRegion,
    tables,
    vaults,
    plans,
    selections,
    drStacks: stacks.map((s) => s.stackName).filter(isDrStack),
    signingKey: signing ? { stack: signing.stack, id: signing.id } : undefined,
  };
};

export interface Check {
  ok: boolean;
  what: string;
}

/** What the runbook relies on, checked in the templates (offline): one line each, ok or MISSING with what is missing. */
export const dryRunChecks = (inv: Inventory): Check[] => {
  const checks: Check[] = [];
  const check = (ok: boolean, what: string) => checks.push({ ok, what });
  check(inv.tables.length > 0, inv.tables.length ? `tables: ${inv.tables.map((t) => `${t.stack}/${t.id}`).join(', ')}` : 'tables: the templates declare no DynamoDB table');
  for (const t of inv.tables) {
    check(t.pitr, `table ${t.stack}/${t.id}: point-in-time recovery${t.pitr ? ' enabled' : ' is not enabled (PointInTimeRecoverySpecification)'}`);
    check(t.deletionProtection, `table ${t.stack}/${t.id}: deletion protection${t.deletionProtection ? ' enabled' : ' is not enabled (DeletionProtectionEnabled)'}`);
  }
  const primaryVaults = inv.vaults.filter((v) => !v.dr);
  check(primaryVaults.length > 0, primaryVaults.length ? `backup vault: ${primaryVaults.map((v) => `${v.stack}/${v.id}`).join(', ')}` : 'backup vault: no AWS::Backup::BackupVault in the primary stacks (lib/constructs/backup.ts)');
  for (const v of primaryVaults) check(v.locked, `backup vault ${v.stack}/${v.id}: vault lock${v.locked ? ' configured' : ' is not configured (LockConfiguration)'}`);
  check(inv.plans.length > 0, inv.plans.length ? `backup plan: ${inv.plans.map((p) => `${p.stack}/${p.id} (${p.rules} rule(s))`).join(', ')}` : 'backup plan: no AWS::Backup::BackupPlan in the templates');
  const copies = inv.plans.flatMap((p) => p.copyTo);
  check(copies.length > 0, copies.length ? `backup plan: copies to ${copies.join(', ')}` : 'backup plan: no copy action to a DR vault (CopyActions)');
  for (const t of inv.tables) {
    const selected = inv.selections.some((s) => s.tables.includes(t.id)) || inv.selections.some((s) => s.byTags);
    check(selected, `table ${t.stack}/${t.id}: ${selected ? 'in a backup selection' : 'in no AWS::Backup::BackupSelection'}`);
  }
  check(inv.drRegion !== undefined, inv.drRegion ? `DR region: ${inv.drRegion}` : 'DR region: neither the config nor a copy action names one');
  check(inv.drStacks.length > 0, inv.drStacks.length ? `DR stack: ${inv.drStacks.join(', ')}` : 'DR stack: no stack named …-DR in the app (lib/stacks/dr-stack.ts)');
  const drVaults = inv.vaults.filter((v) => v.dr);
  check(drVaults.length > 0, drVaults.length ? `DR vault: ${drVaults.map((v) => `${v.stack}/${v.id}`).join(', ')}` : 'DR vault: no AWS::Backup::BackupVault in a DR stack');
  if (drVaults.length && copies.length) {
    const named = drVaults.filter((v) => v.name !== undefined && copies.some((arn) => arn.endsWith(`:backup-vault:${v.name}`) && (!inv.drRegion || arn.includes(`:${inv.drRegion}:`))));
    check(named.length > 0, named.length ? `backup plan: the copy goes to the DR stack's vault ${named[0]!.name} in ${inv.drRegion}` : `backup plan: no copy action names the DR stack's vault (${drVaults.map((v) => v.name ?? v.id).join(', ')}) in ${inv.drRegion}`);
  }
  check(inv.signingKey !== undefined, inv.signingKey ? `audit digest signing key: ${inv.signingKey.stack}/${inv.signingKey.id}` : 'audit digest signing key: no ECC_NIST_P256 SIGN_VERIFY KMS key');
  check(inv.tables.some((t) => t.role === 'audit'), inv.tables.some((t) => t.role === 'audit') ? `audit table: ${inv.tables.filter((t) => t.role === 'audit').map((t) => t.id).join(', ')}` : 'audit table: no function is given AUDIT_TABLE_NAME');
  return checks;
};

const VAR = (t: { role: string; id: string }) => (t.role === 'table' ? t.id.replace(/[^A-Za-z0-9]/g, '_').toUpperCase() : `${t.role.toUpperCase()}_TABLE`);
const physical = (stack: string, id: string, region: string) =>
  `$(aws cloudformation describe-stack-resource --region ${region} --stack-name ${stack} --logical-resource-id ${id} --query StackResourceDetail.PhysicalResourceId --output text)`;
const missing = (what: string) => `<${what}: not in the templates yet>`;

/** The runbook: exact commands, in order, with names derived from the templates and the config. */
export const runbook = (inv: Inventory): string[] => {
  const region = inv.region;
  const dr = inv.drRegion ?? missing('DR region');
  const vault = inv.vaults.find((v) => !v.dr);
  const drVault = inv.vaults.find((v) => v.dr);
  const selection = inv.selections.find((s) => s.roleId);
  const stamp = '$(date -u +%Y%m%d%H%M)';
  const lines: string[] = [
    `# Switchboard restore runbook: primary region ${region}, DR region ${dr}. Generated from the synthesized templates; check first with --dry-run.`,
    '# 0. Names and ARNs of the deployed resources',
    `export AWS_REGION=${region}`,
    'ACCOUNT=$(aws sts get-caller-identity --query Account --output text)',
    `STAMP=${stamp}`,
  ];
  for (const t of inv.tables) lines.push(`${VAR(t)}=${physical(t.stack, t.id, region)}`);
  lines.push(vault ? `VAULT=${vault.name ?? physical(vault.stack, vault.id, region)}` : `VAULT=${missing('backup vault')}`);
  lines.push(selection?.roleId ? `BACKUP_ROLE_ARN=arn:aws:iam::$ACCOUNT:role/${physical(selection.stack, selection.roleId, region)}` : 'BACKUP_ROLE_ARN=arn:aws:iam::$ACCOUNT:role/service-role/AWSBackupDefaultServiceRole');
  if (inv.signingKey) lines.push(`SIGNING_KEY_ARN=arn:aws:kms:${region}:$ACCOUNT:key/${physical(inv.signingKey.stack, inv.signingKey.id, region)}`);
  else lines.push(`SIGNING_KEY_ARN=${missing('audit digest signing key')}`);
  const keyIds = [...new Set(inv.tables.map((t) => t.keyId).filter((id): id is string => Boolean(id)))];
  for (const id of keyIds) {
    const table = inv.tables.find((t) => t.keyId === id)!;
    lines.push(`KEY_${id.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}=arn:aws:kms:${region}:$ACCOUNT:key/${physical(table.stack, id, region)}`);
  }
  const metadata = (t: Inventory['tables'][number]) =>
    `'{"targetTableName":"'"$${VAR(t)}-restored-$STAMP"'"${t.keyId ? `,"encryptionType":"KMS","kmsMasterKeyArn":"'"$KEY_${t.keyId.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}"'"` : ''}}'`;
  lines.push('', '# 1. AWS Backup: restore the latest recovery point of each table into a new table');
  for (const t of inv.tables) {
    lines.push(
      `RP_${VAR(t)}=$(aws backup list-recovery-points-by-backup-vault --backup-vault-name "$VAULT" --by-resource-arn "arn:aws:dynamodb:${region}:$ACCOUNT:table/$${VAR(t)}" --query 'reverse(sort_by(RecoveryPoints,&CreationDate))[0].RecoveryPointArn' --output text)`,
      `JOB_${VAR(t)}=$(aws backup start-restore-job --recovery-point-arn "$RP_${VAR(t)}" --iam-role-arn "$BACKUP_ROLE_ARN" --resource-type DynamoDB --metadata ${metadata(t)} --query RestoreJobId --output text)`,
      `until [ "$(aws backup describe-restore-job --restore-job-id "$JOB_${VAR(t)}" --query Status --output text)" = COMPLETED ]; do sleep 30; done`,
    );
  }
  lines.push('', '# 1b. Or, within the point-in-time window (35 days): restore each table to the latest restorable time (or --restore-date-time <ISO time>)');
  for (const t of inv.tables)
    lines.push(`aws dynamodb restore-table-to-point-in-time --source-table-name "$${VAR(t)}" --target-table-name "$${VAR(t)}-restored-$STAMP" --use-latest-restorable-time${t.keyId ? ` --sse-specification-override Enabled=true,SSEType=KMS,KMSMasterKeyId="$KEY_${t.keyId.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}"` : ''}`);
  for (const t of inv.tables) lines.push(`aws dynamodb wait table-exists --table-name "$${VAR(t)}-restored-$STAMP"`);
  lines.push('', '# 2. Verify: the audit chain of every tenant and its signed digests, in the restored audit table');
  const audit = inv.tables.find((t) => t.role === 'audit');
  lines.push(audit ? `npm run -s audit -- verify --aws --table "$${VAR(audit)}-restored-$STAMP" --signing-key "$SIGNING_KEY_ARN" --region ${region}` : `# ${missing('audit table')}`);
  lines.push('', '# 3. What a restored table does not inherit: point-in-time recovery, deletion protection, time to live');
  for (const t of inv.tables) {
    lines.push(`aws dynamodb update-continuous-backups --table-name "$${VAR(t)}-restored-$STAMP" --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true`);
    lines.push(`aws dynamodb update-table --table-name "$${VAR(t)}-restored-$STAMP" --deletion-protection-enabled`);
    if (t.ttl) lines.push(`aws dynamodb update-time-to-live --table-name "$${VAR(t)}-restored-$STAMP" --time-to-live-specification Enabled=true,AttributeName=${t.ttl}`);
  }
  lines.push(
    `# Cut-over to the restored tables (the stacks own the originals, logical IDs pinned): docs/disaster-recovery.md.`,
    '',
    `# 4. DR region ${dr}: the copies in the DR vault (a copy keeps its source table's ARN), which ${inv.drStacks.length ? inv.drStacks.join(', ') : missing('DR stack')} holds (deployed beforehand)`,
    drVault ? `DR_VAULT=${drVault.name ?? physical(drVault.stack, drVault.id, dr)}` : `DR_VAULT=${missing('DR vault')}`,
    `# With ${region} down, step 0 cannot name the tables: read each recovery point's source table here instead`,
    `aws backup list-recovery-points-by-backup-vault --region ${dr} --backup-vault-name "$DR_VAULT" --query 'RecoveryPoints[].[ResourceArn,CreationDate,RecoveryPointArn]' --output table`,
  );
  for (const t of inv.tables) {
    lines.push(
      `DR_RP_${VAR(t)}=$(aws backup list-recovery-points-by-backup-vault --region ${dr} --backup-vault-name "$DR_VAULT" --by-resource-arn "arn:aws:dynamodb:${region}:$ACCOUNT:table/$${VAR(t)}" --query 'reverse(sort_by(RecoveryPoints,&CreationDate))[0].RecoveryPointArn' --output text)`,
      `DR_JOB_${VAR(t)}=$(aws backup start-restore-job --region ${dr} --recovery-point-arn "$DR_RP_${VAR(t)}" --iam-role-arn "$BACKUP_ROLE_ARN" --resource-type DynamoDB --metadata '{"targetTableName":"'"$${VAR(t)}-restored-$STAMP"'"}' --query RestoreJobId --output text)`,
      `until [ "$(aws backup describe-restore-job --region ${dr} --restore-job-id "$DR_JOB_${VAR(t)}" --query Status --output text)" = COMPLETED ]; do sleep 30; done`,
    );
  }
  lines.push(
    `# Then stand the stacks up in ${dr} and adopt the restored tables: docs/disaster-recovery.md, "The primary region lost" (not scripted).`,
    audit
      ? `# The restored audit chain: step 2 with --table in ${dr} needs the digests' key $SIGNING_KEY_ARN, which is single-region (${region}): while ${region} is down, check the digests with its public key (aws kms get-public-key, kept with the audit records).`
      : `# ${missing('audit table')}`,
  );
  return lines;
};
