import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/constructs/switchboard-function';
import { readProjectConfig, type SynthesizedStack } from '../../bin/local-cloud/synth';
import { synthesizeAppTemplates, type AssemblyStack } from '../../bin/drill/app-templates';
import { runDrillCli } from '../../bin/drill';
import { MANIFEST_FILE, manifestSha256, readManifest, tableContent, type Manifest } from '../../bin/drill/backup';
import { dryRunChecks, inventory } from '../../bin/drill/aws-runbook';
import { LOCK_FILE } from '../../bin/local-cloud/emulators';
import type { SwitchboardConfig } from '../../lib/config';

/**
 * The restore drill (docs/drill.md): a fresh local cloud with representative work is snapshotted,
 * destroyed, restored and verified; a backup altered after the snapshot and an audit entry altered
 * with its manifest recomputed are both caught; the AWS runbook and its offline dry run. The drill
 * runs in-process (sharing one synth of the app); the CLI entry runs once as a child process.
 */

const exec = promisify(execFile);
const TSX = join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');
const root = mkdtempSync(join(tmpdir(), 'switchboard-drill-test-'));
const backup = join(root, 'backup');
let stacks: AssemblyStack[];

const drill = async (args: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runDrillCli(args, { out: (line) => out.push(line), err: (line) => err.push(line) }, { synth: () => stacks });
  return { code, out, err };
};

/** `npm run -s drill -- <args>` as a child process. */
const drillProcess = async (args: string[]) => {
  try {
    const { stdout, stderr } = await exec(TSX, ['bin/drill.ts', ...args], { cwd: PROJECT_ROOT });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

/** A copy of the backup with acme's audit entry at seq 4 given another subject; with `recompute`, its manifest rewritten to match. */
const tamperedCopy = (name: string, recompute: boolean) => {
  const dir = join(root, name);
  cpSync(backup, dir, { recursive: true });
  const manifest = readManifest(dir);
  const [table, entry] = Object.entries(manifest.tables).find(([, t]) => t.index.some(([id]) => id === 'pk=AUDIT#acme|sk=SEQ#000000000004'))!;
  const file = join(dir, entry.file);
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const at = lines.findIndex((line) => line.includes('"SEQ#000000000004"') && line.includes('"AUDIT#acme"'));
  const item = JSON.parse(lines[at]!) as Record<string, { S?: string }>;
  expect(item['subject']?.S).toBeDefined();
  item['subject'] = { S: 'mallory' };
  lines[at] = JSON.stringify(item);
  writeFileSync(file, `${lines.join('\n')}\n`);
  if (recompute) {
    const content = tableContent(entry.definition, lines.map((line) => JSON.parse(line) as Record<string, Record<string, unknown>>));
    writeFileSync(file, content.text);
    const rewritten: Omit<Manifest, 'snapshotSha256'> = { ...manifest, tables: { ...manifest.tables, [table]: { ...entry, sha256: content.sha256, index: content.index } } };
    writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify({ ...rewritten, snapshotSha256: manifestSha256(rewritten) }));
  }
  return { dir, table };
};

beforeAll(() => {
  stacks = synthesizeAppTemplates(readProjectConfig());
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('npm run drill, local', () => {
  it('a fresh local cloud with tasks, a run and its approval, a registered agent: snapshot, destroy, restore, verify each timed; exit 0 with the counts', async () => {
    const { code, out, err } = await drill(['--backup-dir', backup]);
    expect(err).toEqual([]);
    expect(code, out.join('\n')).toBe(0);
    for (const step of ['start', 'work', 'snapshot', 'destroy', 'restore', 'verify']) expect(out).toContainEqual(expect.stringMatching(new RegExp(`^${step}\\s+\\d+\\.\\d\\d s  `)));
    expect(out).toContainEqual(expect.stringMatching(/^destroy .* 2 tables deleted, \d+ files and the emulators' folders removed$/));
    expect(out).toContainEqual(expect.stringMatching(/^verify .* \d+ items and \d+ files equal to the manifest; audit chain of 2 tenants: \d+ entries, \d+ digests? verified$/));
    const summary = out.at(-1)!;
    expect(summary).toMatch(/^drill passed: recovery time \d+\.\d\d s \(restore \d+\.\d\d s \+ verify \d+\.\d\d s\); back: 4 tasks, 1 run, 3 steps, 1 execution, 1 agent, 0 role grants, \d+ audit entries, \d+ audit digests?; audit chains of 2 tenant\(s\) verified; snapshot sha256 [0-9a-f]{64}$/);

    const manifest = readManifest(backup);
    expect(manifest.counts).toMatchObject({ tasks: 4, runs: 1, steps: 3, executions: 1, agents: 1 });
    expect(manifest.tables[Object.keys(manifest.tables).find((name) => name.includes('TasksTable'))!]!.index.map(([id]) => id)).toContain('pk=AGENTS|sk=AGENT#drill-everything');
    expect(manifest.counts['auditEntries']).toBeGreaterThan(20);
    expect(manifest.counts['auditDigests']).toBeGreaterThanOrEqual(2);
    expect(Object.keys(manifest.tables).sort()).toEqual([expect.stringMatching(/^Switchboard-Stateful-AuditTable/), expect.stringMatching(/^Switchboard-Stateful-TasksTable/)]);
    expect(manifest.files.map((f) => f.path)).toEqual(expect.arrayContaining(['keys/audit-signing.pem', expect.stringMatching(/^stepfunctions\/[0-9a-f]{40}\.json$/)]));
    expect(summary).toContain(manifest.snapshotSha256);
  }, 120_000);

  it('the CLI: a backup file altered after the snapshot is refused, naming the table and the item; nothing is restored', { timeout: 30_000 }, async () => {
    const { dir, table } = tamperedCopy('altered', false);
    const { code, stdout } = await drillProcess(['--restore', dir]);
    expect(code).toBe(1);
    expect(stdout).toContain(`FAILED: backup table ${table}: item pk=AUDIT#acme|sk=SEQ#000000000004 differs from the manifest in the backup`);
    expect(stdout.trim().split('\n').at(-1)).toBe('restore FAILED: the backup does not match its manifest (above)');
    expect(stdout).not.toMatch(/^restore\s+\d/m);
  });

  it('an audit entry altered in the backup with its manifest recomputed: restored, and the chain check names the seq; --expect-sha256 refuses it', async () => {
    const { dir } = tamperedCopy('recomputed', true);
    const restored = await drill(['--restore', dir]);
    expect(restored.err).toEqual([]);
    expect(restored.code).toBe(1);
    expect(restored.out).toContainEqual(expect.stringMatching(/^FAILED: audit acme: altered at seq 4: /));
    expect(restored.out).toContainEqual(expect.stringMatching(/^verify .* audit chain of 2 tenants: .* DO NOT verify$/));
    expect(restored.out.at(-1)).toMatch(/^restore FAILED: \d+ finding\(s\) above$/);

    const original = readManifest(backup).snapshotSha256;
    const pinned = await drill(['--restore', dir, '--expect-sha256', original]);
    expect(pinned.code).toBe(1);
    expect(pinned.out).toContainEqual(expect.stringMatching(new RegExp(`^FAILED: backup manifest: snapshot [0-9a-f]{64} is not the snapshot ${original} that was taken$`)));
  });

  it('a clean backup restores into a new folder, which drills again with --data-dir (left unchanged); a folder npm start holds is one line', async () => {
    const into = join(root, 'restored');
    const restored = await drill(['--restore', backup, '--into', into, '--expect-sha256', readManifest(backup).snapshotSha256]);
    expect(restored.code, restored.out.join('\n')).toBe(0);
    expect(restored.out.at(-1)).toMatch(new RegExp(`^restore passed: recovery time .*; back: 4 tasks, 1 run, .*; start it with npm start -- --data-dir ${into}$`));

    const again = await drill(['--data-dir', into, '--backup-dir', join(root, 'second')]);
    expect(again.code, again.out.join('\n')).toBe(0);
    expect(again.out).toContain(`${into} was not changed; its backup: ${join(root, 'second')}`);
    // The same state, so the same items: each table's content hash is the first backup's.
    const [first, second] = [readManifest(backup), readManifest(join(root, 'second'))];
    for (const [name, table] of Object.entries(first.tables)) expect(second.tables[name]!.sha256).toBe(table.sha256);

    writeFileSync(join(into, LOCK_FILE), `${process.ppid}\n`);
    const locked = await drill(['--data-dir', into]);
    expect(locked).toMatchObject({ code: 2, out: [], err: [`drill: the data folder ${into} is in use by npm start (pid ${process.ppid}): stop it first; the drill reads a data folder at rest`] });
  }, 30_000);

  it('operator errors: one line each, exit 2', async () => {
    const full = join(root, 'full');
    mkdirSync(full, { recursive: true });
    writeFileSync(join(full, 'x'), 'x');
    const cases: [string[], string][] = [
      [['--bogus'], "drill: Unknown option '--bogus' (--help)"],
      [['extra'], 'drill: unexpected argument extra (options start with --; --help)'],
      [['--dry-run'], 'drill: --dry-run goes with --aws (the local drill is always real)'],
      [['--into', full], 'drill: --into goes with --restore'],
      [['--aws', '--data-dir', full], 'drill: --data-dir is an option of the local drill, not of --aws'],
      [['--restore', join(root, 'none')], `drill: --restore: no folder ${join(root, 'none')}`],
      [['--restore', full], `drill: ${full} is no backup: manifest.json is missing`],
      [['--restore', backup, '--into', full], `drill: --into: ${full} is not empty (restore into a new or empty folder)`],
      [['--data-dir', full], `drill: --data-dir: ${full} is no local cloud data folder (it has no dynamodb/ folder)`],
      [['--backup-dir', full], `drill: --backup-dir: ${full} is not empty (a backup goes into a new or empty folder)`],
      [['--restore', backup, '--expect-sha256', 'abc'], 'drill: --expect-sha256: the 64 hex digits of the snapshot sha256 the drill printed'],
    ];
    for (const [args, line] of cases) expect(await drill(args), args.join(' ')).toEqual({ code: 2, out: [], err: [line] });
    // A manifest naming a path outside the folder is no manifest: nothing is read or written by it.
    const escaping = join(root, 'escaping');
    cpSync(backup, escaping, { recursive: true });
    const manifest = readManifest(escaping);
    const rewritten = { ...manifest, files: [{ ...manifest.files[0]!, path: '../../outside' }] };
    writeFileSync(join(escaping, MANIFEST_FILE), JSON.stringify({ ...rewritten, snapshotSha256: manifestSha256(rewritten) }));
    expect(await drill(['--restore', escaping])).toEqual({ code: 2, out: [], err: [`drill: ${join(escaping, MANIFEST_FILE)} is no drill manifest: files.0.path: a path inside the folder`] });

    const help = await drill(['--help']);
    expect(help.code).toBe(0);
    expect(help.out[0]).toMatch(/^Usage: npm run -s drill -- \[options\]/);
  });
});

describe('npm run drill --aws', () => {
  it('prints the runbook: AWS Backup and point-in-time restores of each table, the audit verify, the DR region, names from the templates', async () => {
    const { code, out } = await drill(['--aws']);
    expect(code).toBe(0);
    const text = out.join('\n');
    const tasks = Object.entries(stacks.find((s) => s.stackName === 'Switchboard-Stateful')!.template.Resources).find(([id, r]) => r.Type === 'AWS::DynamoDB::Table' && id.startsWith('TasksTable'))![0];
    expect(text).toContain(`TASKS_TABLE=$(aws cloudformation describe-stack-resource --region us-east-1 --stack-name Switchboard-Stateful --logical-resource-id ${tasks} --query StackResourceDetail.PhysicalResourceId --output text)`);
    expect(text).toMatch(/aws backup start-restore-job --recovery-point-arn "\$RP_AUDIT_TABLE" --iam-role-arn "\$BACKUP_ROLE_ARN" --resource-type DynamoDB --metadata /);
    expect(text).toContain('aws dynamodb restore-table-to-point-in-time --source-table-name "$TASKS_TABLE" --target-table-name "$TASKS_TABLE-restored-$STAMP" --use-latest-restorable-time');
    expect(text).toContain('npm run -s audit -- verify --aws --table "$AUDIT_TABLE-restored-$STAMP" --signing-key "$SIGNING_KEY_ARN" --region us-east-1');
    expect(text).toContain('aws dynamodb update-time-to-live --table-name "$TASKS_TABLE-restored-$STAMP" --time-to-live-specification Enabled=true,AttributeName=expiresAt');
  });

  it('--dry-run checks each piece in the synthesized templates, never AWS: ok or MISSING per line, exit 1 while any is missing', async () => {
    const { code, out } = await drill(['--aws', '--dry-run']);
    const checks = out.slice(0, -1);
    for (const line of checks) expect(line).toMatch(/^(ok     |MISSING)  \S/);
    expect(checks).toContainEqual(expect.stringMatching(/^ok {7}table Switchboard-Stateful\/AuditTable\w+: point-in-time recovery enabled$/));
    const missing = checks.filter((line) => line.startsWith('MISSING'));
    expect(code).toBe(missing.length ? 1 : 0);
    expect(out.at(-1)).toBe(
      missing.length
        ? `dry run: ${missing.length} of ${checks.length} checks missing from the synthesized templates; the runbook cannot run as printed (nothing was sent to AWS)`
        : `dry run: all ${checks.length} checks hold in the synthesized templates (nothing was sent to AWS)`,
    );
  });

  it('the dry run names each missing piece: no vault, plan, copy, selection, DR stack; and holds on templates that have them', () => {
    // Only the primary region: the DR region must come from the templates here.
    const config = { primaryRegion: 'us-east-1' } as SwitchboardConfig;
    const table = { Type: 'AWS::DynamoDB::Table', Properties: { PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }, DeletionProtectionEnabled: true } };
    const bare: SynthesizedStack[] = [{ stackName: 'App-Stateful', template: { Resources: { Table1: table } } }];
    const missing = dryRunChecks(inventory(bare, config)).filter((c) => !c.ok).map((c) => c.what);
    expect(missing).toEqual([
      'backup vault: no AWS::Backup::BackupVault in the primary stacks (lib/constructs/backup.ts)',
      'backup plan: no AWS::Backup::BackupPlan in the templates',
      'backup plan: no copy action to a DR vault (CopyActions)',
      'table App-Stateful/Table1: in no AWS::Backup::BackupSelection',
      'DR region: neither the config nor a copy action names one',
      'DR stack: no stack named …-DR in the app (lib/stacks/dr-stack.ts)',
      'DR vault: no AWS::Backup::BackupVault in a DR stack',
      'audit digest signing key: no ECC_NIST_P256 SIGN_VERIFY KMS key',
      'audit table: no function is given AUDIT_TABLE_NAME',
    ]);
    const complete: SynthesizedStack[] = [
      {
        stackName: 'App-Stateful',
        template: {
          Resources: {
            Table1: table,
            Fn: { Type: 'AWS::Lambda::Function', Properties: { Environment: { Variables: { AUDIT_TABLE_NAME: { Ref: 'Table1' } } } } },
            Key: { Type: 'AWS::KMS::Key', Properties: { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' } },
            Vault: { Type: 'AWS::Backup::BackupVault', Properties: { BackupVaultName: 'app', LockConfiguration: { MinRetentionDays: 35 } } },
            Plan: { Type: 'AWS::Backup::BackupPlan', Properties: { BackupPlan: { BackupPlanRule: [{ CopyActions: [{ DestinationBackupVaultArn: 'arn:aws:backup:us-west-2:111122223333:backup-vault:app-dr' }] }] } } },
            Selection: { Type: 'AWS::Backup::BackupSelection', Properties: { BackupSelection: { Resources: [{ 'Fn::GetAtt': ['Table1', 'Arn'] }] } } },
          },
        },
      },
      { stackName: 'App-DR', template: { Resources: { DrVault: { Type: 'AWS::Backup::BackupVault', Properties: { BackupVaultName: 'app-dr' } } } } },
    ];
    const checks = dryRunChecks(inventory(complete, config));
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.map((c) => c.what)).toContain('DR region: us-west-2');
  });
});
