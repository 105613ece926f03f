#!/usr/bin/env node
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { SwitchboardConfig } from '../lib/config';
import { LocalCloudError, LOCK_FILE, lockDataDir } from './local-cloud/emulators';
import { LOCAL_CLOUD_FILE } from './local-cloud/discovery';
import { BackupError } from './drill/backup';
import { declaredTables, describeCounts, drillDataDir, restoreBackup, type DrillIo } from './drill/local-drill';
import type { WorkDone } from './drill/work';
import type { AssemblyStack } from './drill/app-templates';

/**
 * The restore drill (docs/drill.md): snapshot the local cloud's state, destroy it, restore it and
 * verify that every task, run, agent and audit entry is back and every audit chain still verifies;
 * or, with --aws, the restore runbook of the deployed stacks. Exit codes: 0 passed, 1 the drill (or
 * the dry run) found something wrong, 2 an operator error (one line on stderr).
 */

export const usage = `Usage: npm run -s drill -- [options]
  (default)              start a local cloud on a temporary data folder, create representative work through MCP
                         (tasks of two tenants, a workflow run and its approval), stop it, then snapshot, destroy,
                         restore and verify its state; each step timed, then one summary line
  --data-dir D           drill the data folder D instead (no npm start may hold it): a copy of D is drilled, D is never
                         changed; its backup stays in --backup-dir
  --backup-dir B         where the snapshot goes (a new or empty folder; default: a temporary folder, kept with --data-dir)
  --keep                 keep the temporary folders (printed)
  --restore B            restore the backup B into an empty data folder and verify it (nothing restored when B does not
                         match its manifest)
    --into D             the data folder to restore into (new or empty; then: npm start -- --data-dir D); default temporary
    --expect-sha256 H    the snapshot sha256 printed when B was taken: refuse a backup whose manifest was rewritten
  --aws                  print the restore runbook of the deployed stacks (AWS Backup, point-in-time, DR region)
    --dry-run            check offline that the synthesized templates hold what the runbook names (never calls AWS)
  --help                 this text`;

/** An operator's mistake or a missing prerequisite: one line, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface DrillDeps {
  /** Every stack of the synthesized app, with its region (default: the CDK app of cdk.json, synthesized in-process). */
  synth?: () => AssemblyStack[] | Promise<AssemblyStack[]>;
  config?: SwitchboardConfig;
}

const OPTIONS = {
  'data-dir': { type: 'string' },
  'backup-dir': { type: 'string' },
  keep: { type: 'boolean' },
  restore: { type: 'string' },
  into: { type: 'string' },
  'expect-sha256': { type: 'string' },
  aws: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;
type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

export const parseDrillArgs = (argv: readonly string[]): Values => {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '')} (--help)`);
  }
  const { values, positionals } = parsed;
  if (values.help) return values;
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]} (options start with --; --help)`);
  const given = (...names: (keyof Values)[]) => names.filter((name) => values[name] !== undefined);
  if (values['dry-run'] && !values.aws) throw new UsageError('--dry-run goes with --aws (the local drill is always real)');
  if (values.aws) {
    const local = given('data-dir', 'backup-dir', 'keep', 'restore', 'into', 'expect-sha256');
    if (local.length) throw new UsageError(`--${local[0]} is an option of the local drill, not of --aws`);
  }
  if (values.restore === undefined) {
    const stray = given('into', 'expect-sha256');
    if (stray.length) throw new UsageError(`--${stray[0]} goes with --restore`);
  } else {
    const stray = given('data-dir', 'backup-dir');
    if (stray.length) throw new UsageError(`--restore and --${stray[0]}: one or the other`);
  }
  const hash = values['expect-sha256'];
  if (hash !== undefined && !/^[0-9a-f]{64}$/.test(hash)) throw new UsageError('--expect-sha256: the 64 hex digits of the snapshot sha256 the drill printed');
  for (const name of ['data-dir', 'backup-dir', 'restore', 'into'] as const) if (values[name] === '') throw new UsageError(`--${name}: a folder`);
  return values;
};

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const isEmptyOrAbsent = (dir: string) => !existsSync(dir) || readdirSync(dir).length === 0;

/** Locks a data folder for the drill: one line when an npm start holds it. */
const lockForDrill = (dataDir: string): (() => void) => {
  try {
    return lockDataDir(dataDir);
  } catch (error) {
    if (!(error instanceof LocalCloudError)) throw error;
    const pid = /\(pid (\d+)\)/.exec(error.message)?.[1];
    throw new UsageError(
      pid ? `the data folder ${dataDir} is in use by npm start (pid ${pid}): stop it first; the drill reads a data folder at rest` : error.message,
    );
  }
};

/** Every stack of the app, the DR region's included (bin/drill/app-templates.ts). */
const defaultSynth = async () => {
  const [{ readProjectConfig }, { synthesizeAppTemplates }] = await Promise.all([import('./local-cloud/synth'), import('./drill/app-templates')]);
  return synthesizeAppTemplates(readProjectConfig());
};
const projectConfig = async (deps: DrillDeps) => deps.config ?? (await import('./local-cloud/synth')).readProjectConfig();

const awsMode = async (values: Values, io: DrillIo, deps: DrillDeps): Promise<number> => {
  const { dryRunChecks, inventory, runbook } = await import('./drill/aws-runbook');
  const config = await projectConfig(deps);
  const inv = inventory(await (deps.synth ?? defaultSynth)(), config);
  const checks = dryRunChecks(inv);
  const missing = checks.filter((c) => !c.ok);
  if (values['dry-run']) {
    for (const check of checks) io.out(`${check.ok ? 'ok     ' : 'MISSING'}  ${check.what}`);
    io.out(
      missing.length
        ? `dry run: ${missing.length} of ${checks.length} checks missing from the synthesized templates; the runbook cannot run as printed (nothing was sent to AWS)`
        : `dry run: all ${checks.length} checks hold in the synthesized templates (nothing was sent to AWS)`,
    );
    return missing.length ? 1 : 0;
  }
  for (const line of runbook(inv)) io.out(line);
  if (missing.length) io.out(`# ${missing.length} piece(s) the runbook names are not in the templates yet: npm run -s drill -- --aws --dry-run`);
  return 0;
};

const restoreMode = async (values: Values, io: DrillIo): Promise<number> => {
  const backupDir = resolve(values.restore!);
  if (!existsSync(backupDir)) throw new UsageError(`--restore: no folder ${backupDir}`);
  const into = values.into === undefined ? undefined : resolve(values.into);
  if (into && !isEmptyOrAbsent(into)) throw new UsageError(`--into: ${into} is not empty (restore into a new or empty folder)`);
  const dataDir = into ?? join(mkdtempSync(join(tmpdir(), 'switchboard-restore-')), 'data');
  const unlock = lockForDrill(dataDir);
  let passed = false;
  try {
    const result = await restoreBackup({ backupDir, dataDir, ...(values['expect-sha256'] ? { expectedSha256: values['expect-sha256'] } : {}), io });
    passed = result.passed;
    io.out(
      passed
        ? `restore passed: recovery time ${seconds(result.restoreMs! + result.verifyMs!)} (restore ${seconds(result.restoreMs!)} + verify ${seconds(result.verifyMs!)}); back: ${describeCounts(result.report!.counts)}; ${into ? `start it with npm start -- --data-dir ${into}` : 'restored into a temporary folder'}`
        : `restore FAILED: ${result.report ? `${result.report.findings.length} finding(s) above` : 'the backup does not match its manifest (above)'}`,
    );
  } finally {
    unlock();
    if (!into && !values.keep) rmSync(resolve(dataDir, '..'), { recursive: true, force: true });
    else if (!into) io.out(`kept: ${dataDir}`);
  }
  return passed ? 0 : 1;
};

const localMode = async (values: Values, io: DrillIo, deps: DrillDeps): Promise<number> => {
  const source = values['data-dir'] === undefined ? undefined : resolve(values['data-dir']);
  if (source && (!existsSync(source) || !existsSync(join(source, 'dynamodb'))))
    throw new UsageError(`--data-dir: ${source} is no local cloud data folder (it has no dynamodb/ folder)`);
  const backupDir = values['backup-dir'] === undefined ? undefined : resolve(values['backup-dir']);
  if (backupDir && !isEmptyOrAbsent(backupDir)) throw new UsageError(`--backup-dir: ${backupDir} is not empty (a backup goes into a new or empty folder)`);
  const root = mkdtempSync(join(tmpdir(), 'switchboard-drill-'));
  const dataDir = join(root, 'data');
  const backup = backupDir ?? join(root, 'backup');
  let code = 1;
  try {
    const config = await projectConfig(deps);
    let work: WorkDone | undefined;
    if (source) {
      // The user's folder is read once, locked against npm start meanwhile, and never written.
      const release = lockForDrill(source);
      try {
        cpSync(source, dataDir, { recursive: true, filter: (from) => ![LOCK_FILE, LOCAL_CLOUD_FILE].includes(basename(from)) || resolve(from, '..') !== source });
      } finally {
        release();
      }
      io.out(`drill: ${source} copied to ${dataDir}; the drill runs on the copy`);
    } else {
      const started = performance.now();
      const [{ startLocalCloud }, { createRepresentativeWork }] = await Promise.all([import('./local-cloud/cloud'), import('./drill/work')]);
      const cloud = await startLocalCloud({ port: 0, dataDir, log: () => undefined, logLevel: 'SILENT', scheduleOverrideMs: 1000 });
      io.out(`start     ${seconds(performance.now() - started).padStart(8)}  a local cloud on ${dataDir} (${cloud.mcpUrl})`);
      const begun = performance.now();
      try {
        work = await createRepresentativeWork(cloud);
      } finally {
        await cloud.stop();
      }
      io.out(`work      ${seconds(performance.now() - begun).padStart(8)}  ${work.tasks.length} tasks, ${work.runs.length} approved run, ${work.agents.length} registered agent through MCP (tenants ${work.tenants.join(', ')}); digests signed; the cloud stopped`);
    }
    // The tables of the stacks npm start provisions (the primary region's).
    const { primaryStacks } = await import('./drill/app-templates');
    const tables = declaredTables(primaryStacks(await (deps.synth ?? defaultSynth)(), config.primaryRegion));
    const unlock = lockForDrill(dataDir);
    try {
      const result = await drillDataDir({ dataDir, backupDir: backup, tables, region: config.primaryRegion, io });
      const ids = new Set(Object.values(result.manifest.tables).flatMap((t) => t.index.map(([id]) => id)));
      const lost = [
        ...(work ? [...work.tasks, ...work.runs] : []).filter((taskId) => ![...ids].some((id) => id.endsWith(`|sk=TASK#${taskId}`))).map((taskId) => `task ${taskId}`),
        ...(work?.agents ?? []).filter((agentId) => !ids.has(`pk=AGENTS|sk=AGENT#${agentId}`)).map((agentId) => `agent ${agentId}`),
      ];
      for (const what of lost) io.out(`FAILED: ${what}, created by the drill, is not in the snapshot`);
      const { restoreMs, verifyMs } = result.timings;
      const passed = result.passed && lost.length === 0;
      io.out(
        passed
          ? `drill passed: recovery time ${seconds(restoreMs + verifyMs)} (restore ${seconds(restoreMs)} + verify ${seconds(verifyMs)}); back: ${describeCounts(result.report.counts)}; audit chains of ${result.report.audit.tenants} tenant(s) verified; snapshot sha256 ${result.manifest.snapshotSha256}`
          : `drill FAILED: ${result.report.findings.length + lost.length} finding(s) above`,
      );
      code = passed ? 0 : 1;
    } finally {
      unlock();
    }
    if (source) io.out(`${source} was not changed; its backup: ${backup}`);
    return code;
  } finally {
    if (values.keep) io.out(`kept: ${root}`);
    // Only the backup of a --data-dir drill without --backup-dir stays (it is that folder's backup, printed above).
    else if (source && !backupDir && existsSync(join(backup, 'manifest.json'))) rmSync(dataDir, { recursive: true, force: true });
    else rmSync(root, { recursive: true, force: true });
  }
};

/** Runs one command line; resolves with the exit code (0 passed, 1 found something wrong, 2 operator error). */
export const runDrillCli = async (argv: readonly string[], io: DrillIo, deps: DrillDeps = {}): Promise<number> => {
  try {
    const values = parseDrillArgs(argv);
    if (values.help) {
      io.out(usage);
      return 0;
    }
    if (values.aws) return await awsMode(values, io, deps);
    if (values.restore !== undefined) return await restoreMode(values, io);
    return await localMode(values, io, deps);
  } catch (error) {
    if (error instanceof UsageError || error instanceof BackupError || error instanceof LocalCloudError) io.err(`drill: ${error.message}`);
    else {
      const e = error as { name?: string; message?: string };
      io.err(`drill: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${(e.message ?? String(error)).split('\n')[0]}`);
      if (process.env['DRILL_DEBUG']) io.err(String((error as Error).stack));
      return 1;
    }
    return 2;
  }
};

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  runDrillCli(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  }).then((code) => {
    process.exitCode = code;
  });
}
