import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { BatchWriteItemCommand, CreateTableCommand, DescribeTableCommand, DynamoDBClient, ScanCommand, type AttributeValue, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { AUDIT_TENANTS_PK, auditKeys, canonicalJson, sha256Hex } from '../../lambdas/contracts/audit';
import { agentKeys, quotaKeys, taskKeys } from '../../lambdas/contracts/tasks-table';
import type { AwsClientConfig } from '../../lambdas/adapters/runtime';
import { LOCK_FILE } from '../local-cloud/emulators';
import { LOCAL_CLOUD_FILE } from '../local-cloud/discovery';

/**
 * The local cloud's backup format (docs/drill.md): every item of every table the templates declare,
 * read through the real DynamoDB client (a logical backup, as AWS Backup's is), and every other file
 * of the data folder (SQS, Step Functions execution records, keys, issuer, trail…), with a manifest:
 * per table its definition (from the templates), item count, each item's id and SHA-256 and the
 * SHA-256 of the table file; per file its SHA-256 and mode; and the snapshot's own SHA-256 over all of it.
 *
 * backup/
 *   manifest.json
 *   tables/<table>.jsonl     one item per line, DynamoDB JSON (binary as base64), canonical, sorted by key
 *   files/<path>             the data folder's files, but dynamodb/ (the tables above), the lock and the discovery file
 */

export const MANIFEST_FILE = 'manifest.json';
/** Folders and files of the data folder that are not copied as files: the tables are read through the SDK. */
const NOT_FILES = new Set(['dynamodb', LOCK_FILE, LOCAL_CLOUD_FILE]);

/** A table's definition as the templates give it (what CreateTable needs; what the emulator keeps). */
const TableDefinitionSchema = z
  .object({
    AttributeDefinitions: z.array(z.object({ AttributeName: z.string(), AttributeType: z.string() }).strict()),
    KeySchema: z.array(z.object({ AttributeName: z.string(), KeyType: z.string() }).strict()),
    GlobalSecondaryIndexes: z.array(z.record(z.string(), z.unknown())).optional(),
    LocalSecondaryIndexes: z.array(z.record(z.string(), z.unknown())).optional(),
  })
  .strict();
export type TableDefinition = z.infer<typeof TableDefinitionSchema>;

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);
/** A path inside the backup or the data folder: relative, no `..`, no empty segment (a manifest never writes elsewhere). */
const RelativePath = z
  .string()
  .max(1024)
  .regex(/^[\w.-]+(\/[\w.-]+)*$/, 'a relative path')
  .refine((path) => !path.split('/').includes('..'), 'a path inside the folder');
/** A DynamoDB table name. */
const TableName = z.string().regex(/^[\w.-]{3,255}$/, 'a table name');
export const ManifestSchema = z
  .object({
    format: z.literal(1),
    createdAt: z.iso.datetime(),
    region: z.string().min(1),
    tables: z.record(
      TableName,
      z
        .object({
          stack: z.string(),
          logicalId: z.string(),
          definition: TableDefinitionSchema,
          file: RelativePath.refine((path) => /^tables\/[\w.-]+\.jsonl$/.test(path), 'tables/<table>.jsonl'),
          items: z.number().int().min(0),
          sha256: Hex64,
          /** [item id, SHA-256 of its canonical JSON], sorted by id. */
          index: z.array(z.tuple([z.string(), Hex64])),
        })
        .strict(),
    ),
    files: z.array(z.object({ path: RelativePath, bytes: z.number().int().min(0), mode: z.number().int().min(0).max(0o777), sha256: Hex64 }).strict()),
    counts: z.record(z.string(), z.number().int().min(0)),
    /** SHA-256 of the canonical JSON of everything above. */
    snapshotSha256: Hex64,
  })
  .strict();
export type Manifest = z.infer<typeof ManifestSchema>;

/** A table the templates declare: its local name, where it is declared, its definition. */
export interface DeclaredTable {
  name: string;
  stack: string;
  logicalId: string;
  definition: TableDefinition;
}

/** What a check found wrong: one line each. */
export type Finding = string;

type WireValue = Record<string, unknown>;
/** An SDK AttributeValue as DynamoDB JSON (binary as base64), so it can be written and hashed. */
const toWire = (value: AttributeValue): WireValue => {
  const v = value as unknown as Record<string, unknown>;
  if (v['B'] instanceof Uint8Array) return { B: Buffer.from(v['B']).toString('base64') };
  if (Array.isArray(v['BS'])) return { BS: (v['BS'] as Uint8Array[]).map((b) => Buffer.from(b).toString('base64')) };
  if (Array.isArray(v['L'])) return { L: (v['L'] as AttributeValue[]).map(toWire) };
  if (v['M'] && typeof v['M'] === 'object') return { M: itemToWire(v['M'] as Record<string, AttributeValue>) };
  const [key] = Object.keys(v).filter((k) => v[k] !== undefined);
  return { [key!]: v[key!] };
};
const itemToWire = (item: Record<string, AttributeValue>): Record<string, WireValue> =>
  Object.fromEntries(Object.entries(item).map(([name, value]) => [name, toWire(value)]));
const fromWire = (value: WireValue): AttributeValue => {
  if (typeof value['B'] === 'string') return { B: Buffer.from(value['B'], 'base64') };
  if (Array.isArray(value['BS'])) return { BS: (value['BS'] as string[]).map((b) => Buffer.from(b, 'base64')) };
  if (Array.isArray(value['L'])) return { L: (value['L'] as WireValue[]).map(fromWire) };
  if (value['M'] && typeof value['M'] === 'object') return { M: itemFromWire(value['M'] as Record<string, WireValue>) };
  return value as unknown as AttributeValue;
};
export const itemFromWire = (item: Record<string, WireValue>): Record<string, AttributeValue> =>
  Object.fromEntries(Object.entries(item).map(([name, value]) => [name, fromWire(value)]));

/** An item's id: its key attributes, `pk=…|sk=…`. */
export const itemId = (definition: TableDefinition, item: Record<string, WireValue>): string =>
  definition.KeySchema.map(({ AttributeName }) => `${AttributeName}=${String(Object.values(item[AttributeName] ?? {})[0] ?? '')}`).join('|');

/** A table's items as canonical JSON lines sorted by id, with the index [id, sha256] of each. */
export const tableContent = (definition: TableDefinition, items: Record<string, WireValue>[]) => {
  const rows = items.map((item) => ({ id: itemId(definition, item), line: canonicalJson(item) })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const text = rows.map((row) => `${row.line}\n`).join('');
  return { text, sha256: sha256Hex(text), index: rows.map((row) => [row.id, sha256Hex(row.line)] as [string, string]) };
};

/** Every item of a table, through the SDK (consistent scan, every page), as DynamoDB JSON. */
export const scanTable = async (dynamodb: DynamoDBClient, table: string): Promise<Record<string, WireValue>[]> => {
  const items: Record<string, WireValue>[] = [];
  let ExclusiveStartKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamodb.send(new ScanCommand({ TableName: table, ConsistentRead: true, ...(ExclusiveStartKey ? { ExclusiveStartKey } : {}) }));
    for (const item of page.Items ?? []) items.push(itemToWire(item));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return items;
};

const str = (item: Record<string, WireValue>, name: string) => (typeof item[name]?.['S'] === 'string' ? (item[name]['S'] as string) : '');

/** What an item is, by its keys (lambdas/contracts: tasks-table.ts, audit.ts). */
export const kindOf = (item: Record<string, WireValue>): string => {
  const [pk, sk] = [str(item, 'pk'), str(item, 'sk')];
  if (pk.startsWith(auditKeys.tenant(''))) return sk.startsWith(auditKeys.seqPrefix) ? 'auditEntries' : sk.startsWith(auditKeys.digestPrefix) ? 'auditDigests' : 'auditOther';
  if (pk === AUDIT_TENANTS_PK) return 'auditTenants';
  if (pk === agentKeys.partition) return 'agents';
  if (pk.startsWith(quotaKeys.tenant(''))) return 'quotaBuckets';
  if (pk.startsWith(taskKeys.tenant(''))) {
    if (sk.includes('#STEP#')) return 'steps';
    if (sk.startsWith('GRANT#')) return 'roleGrants';
    if (sk.startsWith(taskKeys.task(''))) return item['workflow'] ? 'runs' : 'tasks';
  }
  return 'otherItems';
};

/** The data folder's files (relative paths, sorted), but the tables' folder, the lock and the discovery file. */
export const dataFiles = (dataDir: string): string[] => {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(dataDir, path).split(sep).join('/');
      if (dir === dataDir && NOT_FILES.has(entry.name)) continue;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) found.push(rel);
    }
  };
  if (existsSync(dataDir)) walk(dataDir);
  return found.sort();
};

/** SHA-256 of a file's bytes. */
export const fileSha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

export const manifestSha256 = (manifest: Omit<Manifest, 'snapshotSha256'> & { snapshotSha256?: string }): string => {
  const { snapshotSha256: _ignored, ...body } = manifest;
  return sha256Hex(canonicalJson(body));
};

/** Snapshots the tables through the SDK (against the emulator holding them) into `backupDir/tables`. */
export const snapshotTables = async (dynamodb: AwsClientConfig['dynamodb'], tables: readonly DeclaredTable[], backupDir: string): Promise<{ tables: Manifest['tables']; counts: Record<string, number> }> => {
  const client = new DynamoDBClient({ ...(dynamodb ?? {}), maxAttempts: 3 });
  mkdirSync(join(backupDir, 'tables'), { recursive: true });
  const counts: Record<string, number> = {};
  const snapshots: Manifest['tables'] = {};
  try {
    for (const table of tables) {
      const items = await scanTable(client, table.name);
      for (const item of items) counts[kindOf(item)] = (counts[kindOf(item)] ?? 0) + 1;
      const content = tableContent(table.definition, items);
      const file = `tables/${table.name}.jsonl`;
      writeFileSync(join(backupDir, file), content.text, { mode: 0o600 });
      snapshots[table.name] = { stack: table.stack, logicalId: table.logicalId, definition: table.definition, file, items: items.length, sha256: content.sha256, index: content.index };
    }
  } finally {
    client.destroy();
  }
  return { tables: snapshots, counts };
};

/** Copies the data folder's files into `backupDir/files`: with the emulators stopped (SQLite closed, its WAL folded in). */
export const snapshotFiles = (dataDir: string, backupDir: string): Manifest['files'] =>
  dataFiles(dataDir).map((path) => {
    const [from, to] = [join(dataDir, path), join(backupDir, 'files', path)];
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(from, to);
    chmodSync(to, 0o600);
    const { size, mode } = statSync(from);
    return { path, bytes: size, mode: mode & 0o777, sha256: fileSha256(to) };
  });

/** Writes the manifest of a snapshot (its own hash last) and returns it. */
export const writeManifest = (backupDir: string, snapshot: { region: string; tables: Manifest['tables']; files: Manifest['files']; counts: Record<string, number> }): Manifest => {
  const counts = { ...snapshot.counts, executions: snapshot.files.filter((f) => /^stepfunctions\/[^/]+\.json$/.test(f.path)).length };
  const body = { format: 1 as const, createdAt: new Date().toISOString(), region: snapshot.region, tables: snapshot.tables, files: snapshot.files, counts };
  const manifest: Manifest = { ...body, snapshotSha256: manifestSha256(body) };
  writeFileSync(join(backupDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 1)}\n`, { mode: 0o600 });
  return manifest;
};

/** Reads a backup's manifest: one line when it is missing or no manifest. */
export const readManifest = (backupDir: string): Manifest => {
  const file = join(backupDir, MANIFEST_FILE);
  if (!existsSync(file)) throw new BackupError(`${backupDir} is no backup: ${MANIFEST_FILE} is missing`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new BackupError(`${file} is not JSON`);
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) throw new BackupError(`${file} is no drill manifest: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
};

/** A backup that cannot be used (missing, unreadable): one line. */
export class BackupError extends Error {
  override name = 'BackupError';
}

/**
 * Checks a backup against its manifest before anything is restored from it: the manifest's own hash
 * (and the one printed when it was taken, if given), each table file (count, each item's hash, the
 * file's hash) and each file. Each difference is one finding naming the table and the item, or the file.
 */
export const checkBackup = (backupDir: string, manifest: Manifest, expectedSha256?: string): Finding[] => {
  const findings: Finding[] = [];
  if (manifestSha256(manifest) !== manifest.snapshotSha256) findings.push(`manifest: its content does not hash to its snapshotSha256 (the manifest was altered)`);
  if (expectedSha256 !== undefined && expectedSha256 !== manifest.snapshotSha256)
    findings.push(`manifest: snapshot ${manifest.snapshotSha256} is not the snapshot ${expectedSha256} that was taken`);
  for (const [name, table] of Object.entries(manifest.tables)) {
    const path = join(backupDir, table.file);
    if (!existsSync(path)) {
      findings.push(`table ${name}: ${table.file} is missing from the backup`);
      continue;
    }
    const text = readFileSync(path, 'utf8');
    const lines = text.split('\n').filter(Boolean);
    const items: Record<string, WireValue>[] = [];
    for (const [i, line] of lines.entries()) {
      try {
        items.push(JSON.parse(line) as Record<string, WireValue>);
      } catch {
        findings.push(`table ${name}: line ${i + 1} of ${table.file} is not JSON`);
      }
    }
    const differences = compareItems(`table ${name}`, table.index, tableContent(table.definition, items).index, 'in the backup');
    findings.push(...differences);
    if (differences.length === 0 && sha256Hex(text) !== table.sha256) findings.push(`table ${name}: ${table.file} does not hash to the manifest's sha256`);
  }
  for (const file of manifest.files) {
    const path = join(backupDir, 'files', file.path);
    if (!existsSync(path)) findings.push(`file ${file.path}: missing from the backup`);
    else if (fileSha256(path) !== file.sha256) findings.push(`file ${file.path}: differs from the manifest (sha256 ${fileSha256(path).slice(0, 12)}…, manifest ${file.sha256.slice(0, 12)}…)`);
  }
  return findings;
};

/** Items by id: what is missing, added or different in `actual` against `expected` (the manifest). */
export const compareItems = (label: string, expected: readonly [string, string][], actual: readonly [string, string][], where: string): Finding[] => {
  const findings: Finding[] = [];
  const got = new Map(actual);
  const want = new Map(expected);
  for (const [id, hash] of expected) {
    const other = got.get(id);
    if (other === undefined) findings.push(`${label}: item ${id} is missing ${where}`);
    else if (other !== hash) findings.push(`${label}: item ${id} differs from the manifest ${where} (sha256 ${other.slice(0, 12)}…, manifest ${hash.slice(0, 12)}…)`);
  }
  for (const [id] of actual) if (!want.has(id)) findings.push(`${label}: item ${id} is ${where} but not in the manifest`);
  return findings;
};

/** Copies the backup's files into `dataDir` (modes as they were). */
export const restoreFiles = (backupDir: string, manifest: Manifest, dataDir: string): number => {
  for (const file of manifest.files) {
    const to = join(dataDir, file.path);
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(join(backupDir, 'files', file.path), to);
    chmodSync(to, file.mode);
  }
  return manifest.files.length;
};

/** Waits until a new table is ACTIVE (dynalite too turns CREATING into ACTIVE a moment after CreateTable answers). */
const waitUntilActive = async (client: DynamoDBClient, TableName: string, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName }));
    if (Table?.TableStatus === 'ACTIVE') return;
    if (Date.now() > deadline) throw new Error(`table ${TableName} still ${Table?.TableStatus} ${timeoutMs} ms after its creation`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

/**
 * Creates each table (as provision does: on demand) from the templates' definition when given, else
 * from the one the manifest took from the templates, and writes its items back through the SDK.
 */
export const restoreTables = async (
  backupDir: string,
  manifest: Manifest,
  dynamodb: AwsClientConfig['dynamodb'],
  definitions?: ReadonlyMap<string, TableDefinition>,
): Promise<number> => {
  const client = new DynamoDBClient({ ...(dynamodb ?? {}), maxAttempts: 3 });
  let written = 0;
  try {
    for (const [TableName, table] of Object.entries(manifest.tables)) {
      await client.send(new CreateTableCommand({ TableName, BillingMode: 'PAY_PER_REQUEST', ...(definitions?.get(TableName) ?? table.definition) } as CreateTableCommandInput));
      await waitUntilActive(client, TableName);
      const items = readFileSync(join(backupDir, table.file), 'utf8').split('\n').filter(Boolean).map((line) => itemFromWire(JSON.parse(line) as Record<string, WireValue>));
      for (let i = 0; i < items.length; i += 25) {
        let requests = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
        for (let round = 0; requests.length > 0; round++) {
          if (round >= 10) throw new Error(`table ${TableName}: items left unwritten after 10 rounds`);
          const { UnprocessedItems } = await client.send(new BatchWriteItemCommand({ RequestItems: { [TableName]: requests } }));
          requests = (UnprocessedItems?.[TableName] ?? []) as typeof requests;
        }
      }
      written += items.length;
    }
  } finally {
    client.destroy();
  }
  return written;
};
