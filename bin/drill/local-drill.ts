import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { auditKeys, AUDIT_TABLE } from '../../lambdas/contracts/audit';
import type { AuditFinding, AuditVerifier } from '../../lambdas/domain/audit';
import { verifyAudit } from '../../lambdas/domain/use-cases/audit';
import { DynamoDbAuditDigestStore, DynamoDbAuditStore } from '../../lambdas/adapters/dynamodb-audit-store';
import { LocalFileAuditSigner } from '../../lambdas/adapters/audit-signer-local';
import { auditTenants } from '../audit';
import { LOCK_FILE, startEmulators } from '../local-cloud/emulators';
import { physicalName } from '../local-cloud/resources/resource-handler';
import type { SynthesizedStack } from '../local-cloud/synth';
import {
  checkBackup,
  compareItems,
  dataFiles,
  fileSha256,
  kindOf,
  readManifest,
  restoreFiles,
  restoreTables,
  scanTable,
  snapshotFiles,
  snapshotTables,
  tableContent,
  writeManifest,
  type DeclaredTable,
  type Finding,
  type Manifest,
  type TableDefinition,
} from './backup';

/** The local signing key of audit digests, in the data folder (LOCAL ONLY: docs/audit.md). */
export const AUDIT_SIGNING_KEY = join('keys', 'audit-signing.pem');

export interface DrillIo {
  out(line: string): void;
  err(line: string): void;
}

/** Every DynamoDB table the templates declare, with its local name (as provision names it) and definition. */
export const declaredTables = (stacks: readonly SynthesizedStack[]): DeclaredTable[] =>
  stacks.flatMap(({ stackName, template }) =>
    Object.entries(template.Resources)
      .filter(([, resource]) => resource.Type === 'AWS::DynamoDB::Table')
      .map(([id, resource]) => {
        const p = resource.Properties ?? {};
        const definition = {
          AttributeDefinitions: p['AttributeDefinitions'],
          KeySchema: p['KeySchema'],
          ...(p['GlobalSecondaryIndexes'] ? { GlobalSecondaryIndexes: p['GlobalSecondaryIndexes'] } : {}),
          ...(p['LocalSecondaryIndexes'] ? { LocalSecondaryIndexes: p['LocalSecondaryIndexes'] } : {}),
        } as TableDefinition;
        return { name: physicalName(stackName, id), stack: stackName, logicalId: id, definition };
      }),
  );

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const plural = (n: number, noun: string, many = `${noun}s`) => `${n} ${n === 1 ? noun : many}`;

/** The counts a person checks: what each kind of item is, in words. */
export const describeCounts = (counts: Record<string, number>): string =>
  [
    plural(counts['tasks'] ?? 0, 'task'),
    plural(counts['runs'] ?? 0, 'run'),
    plural(counts['steps'] ?? 0, 'step'),
    plural(counts['executions'] ?? 0, 'execution'),
    plural(counts['agents'] ?? 0, 'agent'),
    plural(counts['roleGrants'] ?? 0, 'role grant'),
    plural(counts['auditEntries'] ?? 0, 'audit entry', 'audit entries'),
    plural(counts['auditDigests'] ?? 0, 'audit digest'),
  ].join(', ');

const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const started = performance.now();
  const value = await fn();
  return [value, performance.now() - started];
};

/** Starts the emulators on a data folder, runs `fn` with them, stops them whatever happens. */
const withEmulators = async <T>(dataDir: string, region: string, fn: (emulators: Awaited<ReturnType<typeof startEmulators>>) => Promise<T>): Promise<T> => {
  const emulators = await startEmulators({ dataDir, region });
  try {
    return await fn(emulators);
  } finally {
    await emulators.stop();
  }
};

const describeFinding = (tenant: string, finding: AuditFinding) =>
  `audit ${tenant}: ${finding.kind} at seq ${finding.kind === 'deleted' ? (finding.fromSeq === finding.toSeq ? finding.fromSeq : `${finding.fromSeq}-${finding.toSeq}`) : 'seq' in finding ? finding.seq : finding.toSeq}: ${finding.detail}`;

/** The tables of a manifest that hold audit entries. */
const auditTablesOf = (manifest: Manifest) =>
  Object.entries(manifest.tables)
    .filter(([, table]) => table.index.some(([id]) => id.startsWith(`${AUDIT_TABLE.partitionKey}=${auditKeys.tenant('')}`)))
    .map(([name]) => name);

export interface VerifyReport {
  findings: Finding[];
  counts: Record<string, number>;
  audit: { tenants: number; entries: number; digests: number };
}

/**
 * Checks a restored data folder against the manifest: every table the manifest names holds exactly
 * its items (ids and content hashes), every file is back byte for byte, and every tenant's audit
 * chain verifies with its signed digests (the local signing key file of the restored folder).
 */
export const verifyRestored = async (dataDir: string, manifest: Manifest): Promise<VerifyReport> => {
  // The files first, as restored: the emulators open (and may rewrite) their own.
  const findings: Finding[] = [];
  for (const file of manifest.files) {
    const path = join(dataDir, file.path);
    if (!existsSync(path)) findings.push(`file ${file.path}: not restored`);
    else if (fileSha256(path) !== file.sha256) findings.push(`file ${file.path}: restored with other content`);
  }
  return withEmulators(dataDir, manifest.region, async (emulators) => {
    const counts: Record<string, number> = {};
    const client = new DynamoDBClient({ ...emulators.aws.dynamodb, maxAttempts: 3 });
    try {
      const present = new Set((await client.send(new ListTablesCommand({}))).TableNames ?? []);
      for (const [name, table] of Object.entries(manifest.tables)) {
        if (!present.has(name)) {
          findings.push(`table ${name}: not restored`);
          continue;
        }
        const items = await scanTable(client, name);
        for (const item of items) counts[kindOf(item)] = (counts[kindOf(item)] ?? 0) + 1;
        findings.push(...compareItems(`table ${name}`, table.index, tableContent(table.definition, items).index, 'in the restored table'));
      }
      counts['executions'] = manifest.files.filter((f) => /^stepfunctions\/[^/]+\.json$/.test(f.path) && existsSync(join(dataDir, f.path))).length;
      const keyFile = join(dataDir, AUDIT_SIGNING_KEY);
      // No key file: nothing was signed with it, so any digest found is one this key never signed.
      const verifier: AuditVerifier = existsSync(keyFile) ? new LocalFileAuditSigner(keyFile) : { verify: async () => false };
      const audit = { tenants: 0, entries: 0, digests: 0 };
      for (const table of auditTablesOf(manifest)) {
        const [store, digests] = [new DynamoDbAuditStore(client, table), new DynamoDbAuditDigestStore(client, table)];
        for (const tenantId of await auditTenants(DynamoDBDocumentClient.from(client), table)) {
          const report = await verifyAudit({ store, digests, verifier }, { tenantId });
          audit.tenants++;
          audit.entries += report.entries;
          audit.digests += report.digests;
          findings.push(...report.findings.map((finding) => describeFinding(tenantId, finding)));
        }
      }
      return { findings, counts, audit };
    } finally {
      client.destroy();
    }
  });
};

export interface DrillTimings {
  snapshotMs: number;
  destroyMs: number;
  restoreMs: number;
  verifyMs: number;
}

export interface DrillResult {
  passed: boolean;
  manifest: Manifest;
  report: VerifyReport;
  timings: DrillTimings;
}

/**
 * The drill on a data folder at rest (no npm start on it; the caller holds its lock): snapshot it
 * into `backupDir`, destroy it (delete the tables through the SDK, then every file), restore it (the
 * tables recreated from the templates' definitions, the items written back, the files copied back)
 * and verify it against the manifest. Prints each step with its time.
 */
export const drillDataDir = async (options: { dataDir: string; backupDir: string; tables: readonly DeclaredTable[]; region: string; io: DrillIo }): Promise<DrillResult> => {
  const { dataDir, backupDir, tables, region, io } = options;
  const [manifest, snapshotMs] = await timed(async () => {
    const snapshot = await withEmulators(dataDir, region, (emulators) => snapshotTables(emulators.aws.dynamodb, tables, backupDir));
    return writeManifest(backupDir, { region, ...snapshot, files: snapshotFiles(dataDir, backupDir) });
  });
  const itemCount = Object.values(manifest.tables).reduce((sum, t) => sum + t.items, 0);
  io.out(`snapshot  ${seconds(snapshotMs).padStart(8)}  ${plural(tables.length, 'table')} (${plural(itemCount, 'item')}), ${plural(manifest.files.length, 'file')} -> ${backupDir}`);
  io.out(`          snapshot sha256 ${manifest.snapshotSha256}`);
  io.out(`          ${describeCounts(manifest.counts)}`);

  const [destroyed, destroyMs] = await timed(async () => {
    const deleted = await withEmulators(dataDir, region, async (emulators) => {
      const client = new DynamoDBClient({ ...emulators.aws.dynamodb, maxAttempts: 3 });
      try {
        for (const table of tables) await client.send(new DeleteTableCommand({ TableName: table.name }));
        // A deleted table is DELETING a moment before it is gone (dynalite too).
        const deadline = Date.now() + 30_000;
        for (;;) {
          const left = (await client.send(new ListTablesCommand({}))).TableNames ?? [];
          if (left.length === 0) return tables.length;
          if (Date.now() > deadline) throw new Error(`tables left 30 s after deleting them: ${left.join(', ')}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      } finally {
        client.destroy();
      }
    });
    const files = dataFiles(dataDir).length;
    for (const entry of readdirSync(dataDir)) if (entry !== LOCK_FILE) rmSync(join(dataDir, entry), { recursive: true, force: true });
    return { deleted, files };
  });
  io.out(`destroy   ${seconds(destroyMs).padStart(8)}  ${plural(destroyed.deleted, 'table')} deleted, ${plural(destroyed.files, 'file')} and the emulators' folders removed`);

  const [restored, restoreMs] = await timed(() => restoreInto(backupDir, manifest, dataDir, tables));
  io.out(`restore   ${seconds(restoreMs).padStart(8)}  ${plural(tables.length, 'table')} recreated from the templates, ${plural(restored.items, 'item')} written, ${plural(restored.files, 'file')} copied back`);

  const [report, verifyMs] = await timed(() => verifyRestored(dataDir, manifest));
  printVerify(io, verifyMs, report, manifest);
  const timings = { snapshotMs, destroyMs, restoreMs, verifyMs };
  return { passed: report.findings.length === 0, manifest, report, timings };
};

/** Writes the backup's files and tables into `dataDir` (tables from `tables`' definitions when given: the templates). */
const restoreInto = async (backupDir: string, manifest: Manifest, dataDir: string, tables?: readonly DeclaredTable[]) => {
  const definitions = tables ? new Map(tables.map((t) => [t.name, t.definition])) : undefined;
  const items = await withEmulators(dataDir, manifest.region, (emulators) => restoreTables(backupDir, manifest, emulators.aws.dynamodb, definitions));
  // The emulators made empty stores of their own (SQS): the backup's files replace them, byte for byte.
  for (const entry of readdirSync(dataDir)) if (entry !== 'dynamodb' && entry !== LOCK_FILE) rmSync(join(dataDir, entry), { recursive: true, force: true });
  const files = restoreFiles(backupDir, manifest, dataDir);
  return { files, items };
};

const printVerify = (io: DrillIo, verifyMs: number, report: VerifyReport, manifest: Manifest) => {
  const items = Object.values(manifest.tables).reduce((sum, t) => sum + t.items, 0);
  for (const finding of report.findings) io.out(`FAILED: ${finding}`);
  io.out(
    `verify    ${seconds(verifyMs).padStart(8)}  ${report.findings.length ? plural(report.findings.length, 'finding') : `${plural(items, 'item')} and ${plural(manifest.files.length, 'file')} equal to the manifest`}; audit chain of ${plural(report.audit.tenants, 'tenant')}: ${plural(report.audit.entries, 'entry', 'entries')}, ${plural(report.audit.digests, 'digest')} ${report.findings.some((f) => f.startsWith('audit ')) ? 'DO NOT verify' : 'verified'}`,
  );
  io.out(`          restored: ${describeCounts(report.counts)}`);
};

/**
 * Restores a backup into `dataDir` (empty; the caller holds its lock) and verifies it: refused, with
 * each finding, when the backup does not match its manifest. Exit code 0 or 1.
 */
export const restoreBackup = async (options: { backupDir: string; dataDir: string; expectedSha256?: string; io: DrillIo }): Promise<{ passed: boolean; report?: VerifyReport; restoreMs?: number; verifyMs?: number }> => {
  const { backupDir, dataDir, io } = options;
  const manifest = readManifest(backupDir);
  const [findings, checkMs] = await timed(async () => checkBackup(backupDir, manifest, options.expectedSha256));
  if (findings.length) {
    for (const finding of findings) io.out(`FAILED: backup ${finding}`);
    io.out(`check     ${seconds(checkMs).padStart(8)}  the backup does not match its manifest: ${plural(findings.length, 'finding')}; nothing restored`);
    return { passed: false };
  }
  io.out(`check     ${seconds(checkMs).padStart(8)}  the backup matches its manifest (snapshot sha256 ${manifest.snapshotSha256}, taken ${manifest.createdAt})`);
  const [restored, restoreMs] = await timed(() => restoreInto(backupDir, manifest, dataDir));
  io.out(`restore   ${seconds(restoreMs).padStart(8)}  ${plural(Object.keys(manifest.tables).length, 'table')} recreated, ${plural(restored.items, 'item')} written, ${plural(restored.files, 'file')} copied into ${dataDir}`);
  const [report, verifyMs] = await timed(() => verifyRestored(dataDir, manifest));
  printVerify(io, verifyMs, report, manifest);
  return { passed: report.findings.length === 0, report, restoreMs, verifyMs };
};

