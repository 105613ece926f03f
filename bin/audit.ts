#!/usr/bin/env node
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { DynamoDBDocumentClient, QueryCommand, ScanCommand, type QueryCommandOutput, type ScanCommandOutput } from '@aws-sdk/lib-dynamodb';
import { AUDIT_KINDS, AUDIT_TABLE, AUDIT_TENANTS_PK, auditKeys, type AuditEntry } from '../lambdas/contracts/audit';
import type { AuditFinding, AuditVerifier } from '../lambdas/domain/audit';
import { queryAudit, verifyAudit, AUDIT_PAGE_SIZE, type AuditQuery } from '../lambdas/domain/use-cases/audit';
import { DomainError } from '../lambdas/domain/errors';
import { DynamoDbAuditDigestStore, DynamoDbAuditStore } from '../lambdas/adapters/dynamodb-audit-store';
import { LocalFileAuditSigner } from '../lambdas/adapters/audit-signer-local';
import { KmsAuditSigner } from '../lambdas/adapters/audit-signer-kms';
import { lookupTrailEvents, queryTrailLake, eventDataStoreId, type TrailEvent, type TrailFilter } from '../lambdas/adapters/cloudtrail-events';
import { readLocalCloudDiscovery } from './local-cloud/discovery';
import { readTrailDir } from './local-cloud/trail';

/**
 * The auditor's CLI (docs/audit.md, "For auditors: the CLI"): verify the hash-chained audit log,
 * query it, and read CloudTrail — from the running `npm start` (found by its data folder's
 * local-cloud.json) or, with --aws, from AWS (the audit table, the KMS signing key, CloudTrail's
 * LookupEvents or a Lake event data store). Exit codes: 0 done (verify: clean), 1 verify found
 * tampering, 2 an operator error (one line on stderr).
 */

export const usage = `Usage: npm run -s audit -- <command> [options]
Commands:
  verify [--tenant T] [--from N] [--to N]         check the hash chain and signed digests (every tenant unless --tenant);
                                                  one line per finding and exit 1, or "verified N entries, M digests"
  query  [--tenant T] [--subject S] [--action A] [--kind ${AUDIT_KINDS.join('|')}] [--decision allow|deny]
         [--since ISO] [--until ISO] [--limit N] [--cursor C] [--json]
                                                  audit entries, oldest first (every tenant unless --tenant); a table or JSON lines,
                                                  then the cursor of the next page
  trail  [--since ISO] [--until ISO] [--event-name N] [--resource R] [--limit N] [--json]
                                                  CloudTrail events, newest first: locally the local trail (LOCAL ONLY);
                                                  with --aws LookupEvents (management events), with --lake <event data store> a Lake query
Where:
  (default)        the npm start running on --data-dir (default .switchboard, or SWITCHBOARD_DATA_DIR)
  --aws            AWS, with the default credentials chain: --table <audit table> (verify, query),
                   --signing-key <KMS key ARN> (verify: the key digests are signed with), --region R, --lake <id or ARN> (trail)
  --help           this text`;

/** An operator's mistake or a missing prerequisite: one line, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
}

const OPTIONS = {
  tenant: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  subject: { type: 'string' },
  action: { type: 'string' },
  kind: { type: 'string' },
  decision: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  json: { type: 'boolean' },
  'event-name': { type: 'string' },
  resource: { type: 'string' },
  'data-dir': { type: 'string' },
  aws: { type: 'boolean' },
  table: { type: 'string' },
  'signing-key': { type: 'string' },
  region: { type: 'string' },
  lake: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Which options each command takes (besides where: --data-dir, --aws, --region, --help). */
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  verify: ['tenant', 'from', 'to', 'table', 'signing-key'],
  query: ['tenant', 'subject', 'action', 'kind', 'decision', 'since', 'until', 'limit', 'cursor', 'json', 'table'],
  trail: ['since', 'until', 'event-name', 'resource', 'limit', 'json', 'lake'],
};
const WHERE = ['data-dir', 'aws', 'region', 'help'];

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

const seqOption = (name: string, value: string | undefined) => {
  if (value === undefined) return undefined;
  if (!/^\d{1,12}$/.test(value) || Number(value) < 1) throw new UsageError(`--${name}: a seq (a whole number from 1), not ${value}`);
  return Number(value);
};
const timeOption = (name: string, value: string | undefined) => {
  if (value === undefined) return undefined;
  // An ISO date or date-time; a date alone is midnight UTC.
  if (!/^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$/.test(value) || Number.isNaN(Date.parse(value)))
    throw new UsageError(`--${name}: an ISO date or time (2026-11-26 or 2026-11-26T13:00:00Z), not ${value}`);
  return new Date(/T.*(Z|[+-]\d\d:?\d\d)$/.test(value) || !value.includes('T') ? value : `${value}Z`);
};
const limitOption = (value: string | undefined, max: number, fallback: number) => {
  if (value === undefined) return fallback;
  if (!/^\d{1,6}$/.test(value) || Number(value) < 1 || Number(value) > max) throw new UsageError(`--limit: a whole number from 1 to ${max}, not ${value}`);
  return Number(value);
};
const nameOption = (name: string, value: string | undefined) => {
  if (value === undefined) return undefined;
  if (value.length < 1 || value.length > 256 || /[\u0000-\u001f]/.test(value)) throw new UsageError(`--${name}: 1 to 256 printable characters`);
  return value;
};

export const parseCommandLine = (argv: readonly string[]): { command: string | undefined; values: Values } => {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (error) {
    // node:util's first sentence says it ("Unknown option '--bogus'"); the rest is about positionals.
    throw new UsageError((error as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, ''));
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: undefined, values };
  const [command, ...extra] = positionals;
  if (command === undefined) throw new UsageError('a command is required: verify, query or trail (--help)');
  if (!(command in COMMAND_OPTIONS)) throw new UsageError(`unknown command ${command}: verify, query or trail (--help)`);
  if (extra.length) throw new UsageError(`unexpected argument ${extra[0]} (options start with --)`);
  const allowed = new Set([...COMMAND_OPTIONS[command]!, ...WHERE]);
  const stray = Object.keys(values).find((key) => !allowed.has(key));
  if (stray) throw new UsageError(`--${stray} is not an option of ${command} (--help)`);
  if (values.aws && values['data-dir'] !== undefined) throw new UsageError('--aws and --data-dir: one or the other');
  if (!values.aws && (values.table ?? values['signing-key'] ?? values.lake ?? values.region) !== undefined)
    throw new UsageError(`--${values.table !== undefined ? 'table' : values['signing-key'] !== undefined ? 'signing-key' : values.lake !== undefined ? 'lake' : 'region'} needs --aws`);
  return { command, values };
};

/** Where the audit table and the trail are: the local cloud, or AWS. */
interface Target {
  auditStore(): { store: DynamoDbAuditStore; digests: DynamoDbAuditDigestStore; doc: DynamoDBDocumentClient; table: string };
  verifier(): AuditVerifier;
  trail(filter: TrailFilter): Promise<TrailEvent[]>;
}

const localTarget = (values: Values, io: CliIo): Target => {
  const dataDir = resolve(values['data-dir'] ?? io.env['SWITCHBOARD_DATA_DIR'] ?? '.switchboard');
  let discovery: ReturnType<typeof readLocalCloudDiscovery>;
  try {
    discovery = readLocalCloudDiscovery(dataDir);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const client = () =>
    new DynamoDBClient({ endpoint: discovery.dynamodbEndpoint, region: discovery.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 2 });
  return {
    auditStore: () => {
      if (!discovery.auditTable) throw new UsageError('the running local cloud has no audit table');
      return stores(client(), discovery.auditTable);
    },
    verifier: () => {
      // No key file yet: nothing was ever signed with it, so any digest found is one this key never signed.
      if (!existsSync(discovery.auditSigningKeyFile)) return { verify: async () => false };
      try {
        return new LocalFileAuditSigner(discovery.auditSigningKeyFile);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
    },
    trail: (filter) => readTrailDir(discovery.trailDir, filter),
  };
};

const awsTarget = (values: Values): Target => {
  const region = values.region;
  if (region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) throw new UsageError(`--region: not an AWS region: ${region}`);
  const config = region ? { region } : {};
  return {
    auditStore: () => {
      if (!values.table) throw new UsageError('--aws needs --table <audit table name> for verify and query');
      return stores(new DynamoDBClient(config), values.table);
    },
    verifier: () => {
      const key = values['signing-key'];
      if (!key) throw new UsageError('verify --aws needs --signing-key <the KMS key ARN digests are signed with>');
      if (!/^arn:aws[\w-]*:kms:[\w-]+:\d{12}:key\/[\w-]+$/.test(key)) throw new UsageError(`--signing-key: not a KMS key ARN: ${key}`);
      return new KmsAuditSigner(new KMSClient(config), key);
    },
    trail: (filter) => {
      const client = new CloudTrailClient(config);
      if (values.lake === undefined) return lookupTrailEvents(client, filter);
      let store: string;
      try {
        store = eventDataStoreId(values.lake);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      return queryTrailLake(client, store, filter);
    },
  };
};

const stores = (client: DynamoDBClient, table: string) => ({
  store: new DynamoDbAuditStore(client, table),
  digests: new DynamoDbAuditDigestStore(client, table),
  doc: DynamoDBDocumentClient.from(client),
  table,
});

/**
 * Every tenant with an audit log: the AUDIT_TENANTS partition; when it is empty (a log written before
 * it existed), the distinct AUDIT#<tenant> partitions of a Scan.
 */
export const auditTenants = async (doc: DynamoDBDocumentClient, table: string): Promise<string[]> => {
  const { partitionKey: PK, sortKey: SK } = AUDIT_TABLE;
  const listed = new Set<string>();
  let start: Record<string, unknown> | undefined;
  do {
    const page: QueryCommandOutput = await doc.send(
      new QueryCommand({ TableName: table, KeyConditionExpression: '#pk = :pk', ExpressionAttributeNames: { '#pk': PK }, ExpressionAttributeValues: { ':pk': AUDIT_TENANTS_PK }, ExclusiveStartKey: start }),
    );
    for (const item of page.Items ?? []) listed.add(String(item[SK]));
    start = page.LastEvaluatedKey;
  } while (start);
  if (listed.size === 0) {
    const prefix = auditKeys.tenant('');
    do {
      const page: ScanCommandOutput = await doc.send(new ScanCommand({ TableName: table, ProjectionExpression: '#pk', ExpressionAttributeNames: { '#pk': PK }, ExclusiveStartKey: start }));
      for (const item of page.Items ?? []) if (String(item[PK]).startsWith(prefix)) listed.add(String(item[PK]).slice(prefix.length));
      start = page.LastEvaluatedKey;
    } while (start);
  }
  return [...listed].sort();
};

const describeFinding = (tenant: string, finding: AuditFinding) => {
  const where = finding.kind === 'deleted' ? (finding.fromSeq === finding.toSeq ? `seq ${finding.fromSeq}` : `seq ${finding.fromSeq}-${finding.toSeq}`) : `seq ${'seq' in finding ? finding.seq : finding.toSeq}`;
  return `${tenant}: ${finding.kind} at ${where}: ${finding.detail}`;
};

const verify = async (target: () => Target, values: Values, io: CliIo): Promise<number> => {
  const fromSeq = seqOption('from', values.from);
  const toSeq = seqOption('to', values.to);
  if (fromSeq !== undefined && toSeq !== undefined && fromSeq > toSeq) throw new UsageError('--from must not exceed --to');
  const tenant = nameOption('tenant', values.tenant);
  const { store, digests, doc, table } = target().auditStore();
  const verifier = target().verifier();
  const tenants = tenant ? [tenant] : await auditTenants(doc, table);
  let [entries, signed, findings] = [0, 0, 0];
  for (const tenantId of tenants) {
    let lastProgress = 0;
    const report = await verifyAudit(
      { store, digests, verifier },
      {
        tenantId,
        ...(fromSeq !== undefined ? { fromSeq } : {}),
        ...(toSeq !== undefined ? { toSeq } : {}),
        // Long ranges: a line at most every half second once past the first page.
        onProgress: ({ read, atSeq }) => {
          if (read <= AUDIT_PAGE_SIZE || Date.now() - lastProgress < 500) return;
          lastProgress = Date.now();
          io.err(`verify: ${tenantId}: ${read} entries read (at seq ${atSeq})`);
        },
      },
    );
    for (const finding of report.findings) io.out(describeFinding(tenantId, finding));
    [entries, signed, findings] = [entries + report.entries, signed + report.digests, findings + report.findings.length];
  }
  const count = (n: number, noun: string, plural = `${noun}s`) => `${n} ${n === 1 ? noun : plural}`;
  const summary = `${count(entries, 'entry', 'entries')}, ${count(signed, 'digest')} (${count(tenants.length, 'tenant')})`;
  if (findings) {
    io.out(`${count(findings, 'finding')} in ${summary}`);
    return 1;
  }
  io.out(`verified ${summary}`);
  return 0;
};

/** `<tenant>/<seq>`: where the next page starts, across tenants. */
const CURSOR = /^([^/]{1,256})\/(\d{1,12})$/;

const query = async (target: () => Target, values: Values, io: CliIo): Promise<number> => {
  const limit = limitOption(values.limit, 1000, 50);
  const since = timeOption('since', values.since);
  const until = timeOption('until', values.until);
  if (values.kind !== undefined && !(AUDIT_KINDS as readonly string[]).includes(values.kind)) throw new UsageError(`--kind: one of ${AUDIT_KINDS.join(', ')}, not ${values.kind}`);
  if (values.decision !== undefined && values.decision !== 'allow' && values.decision !== 'deny') throw new UsageError(`--decision: allow or deny, not ${values.decision}`);
  const cursor = values.cursor === undefined ? undefined : CURSOR.exec(values.cursor);
  if (values.cursor !== undefined && !cursor) throw new UsageError('--cursor: the cursor a previous query printed');
  const filters: Omit<AuditQuery, 'tenantId' | 'limit' | 'cursor'> = {
    ...(values.subject !== undefined ? { subject: nameOption('subject', values.subject)! } : {}),
    ...(values.action !== undefined ? { action: nameOption('action', values.action)! } : {}),
    ...(values.kind !== undefined ? { kind: values.kind as AuditEntry['kind'] } : {}),
    ...(values.decision !== undefined ? { decision: values.decision as 'allow' | 'deny' } : {}),
    ...(since ? { since: since.toISOString() } : {}),
    ...(until ? { until: until.toISOString() } : {}),
  };
  const { store, doc, table } = target().auditStore();
  const tenant = nameOption('tenant', values.tenant);
  if (tenant && cursor && cursor[1] !== tenant) throw new UsageError(`--cursor: a cursor of tenant ${cursor[1]}, not ${tenant}`);
  const all = tenant ? [tenant] : await auditTenants(doc, table);
  const tenants = cursor ? all.filter((t) => t >= cursor[1]!) : all;
  const entries: AuditEntry[] = [];
  let next: string | undefined;
  for (const [i, tenantId] of tenants.entries()) {
    const page = await queryAudit(
      { store },
      { tenantId, ...filters, limit: limit - entries.length, ...(cursor && tenantId === cursor[1] ? { cursor: cursor[2]! } : {}) },
    );
    entries.push(...page.entries);
    if (page.nextCursor !== undefined) {
      next = `${tenantId}/${page.nextCursor}`;
      break;
    }
    if (entries.length >= limit) {
      if (i + 1 < tenants.length) next = `${tenants[i + 1]}/0`;
      break;
    }
  }
  if (values.json) {
    for (const entry of entries) io.out(JSON.stringify(entry));
    if (next) io.err(`next cursor: ${next}`);
  } else {
    printTable(
      io,
      ['TENANT', 'SEQ', 'TIME', 'SUBJECT', 'KIND', 'ACTION', 'DECISION', 'OUTCOME', 'TARGET', 'REQUEST'],
      entries.map((e) => [
        e.tenantId,
        String(e.seq),
        e.time,
        e.subject,
        e.kind,
        e.action,
        e.decision,
        e.outcome.status === 'error' ? `error ${e.outcome.code}` : e.outcome.status + (e.completes ? ` (completes ${e.completes})` : ''),
        e.target ?? '',
        e.requestId,
      ]),
    );
    io.out(next ? `next page: --cursor ${next}` : `${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, no more`);
  }
  return 0;
};

const trail = async (target: () => Target, values: Values, io: CliIo): Promise<number> => {
  const since = timeOption('since', values.since);
  const until = timeOption('until', values.until);
  if (since && until && since > until) throw new UsageError('--since must not be after --until');
  const eventName = values['event-name'];
  if (eventName !== undefined && !/^[A-Za-z][A-Za-z0-9]{0,127}$/.test(eventName)) throw new UsageError(`--event-name: an API name like PutItem, not ${eventName}`);
  const resource = values.resource;
  if (resource !== undefined && !/^[\w:/.#@+=,-]{1,2048}$/.test(resource)) throw new UsageError('--resource: an ARN or a resource name');
  const filter: TrailFilter = {
    limit: limitOption(values.limit, 10_000, 50),
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
    ...(eventName ? { eventName } : {}),
    ...(resource ? { resource } : {}),
  };
  const events = await target().trail(filter);
  if (values.json) for (const event of events) io.out(JSON.stringify(event));
  else
    printTable(
      io,
      ['TIME', 'EVENT', 'SOURCE', 'CATEGORY', 'PRINCIPAL', 'RESOURCES', 'ERROR'],
      events.map((e) => [e.time, e.eventName, e.eventSource, e.category, e.principal, e.resources.map((r) => r.arn).join(' '), e.errorCode ?? '']),
    );
  return 0;
};

const printTable = (io: CliIo, header: string[], rows: string[][]) => {
  const widths = header.map((title, i) => Math.min(80, Math.max(title.length, ...rows.map((row) => row[i]!.length))));
  const line = (cells: string[]) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  io.out(line(header));
  for (const row of rows) io.out(line(row));
};

/** Runs one command line; resolves with the exit code (0, 1: verify found tampering, 2: an operator error). */
export const runAuditCli = async (argv: readonly string[], io: CliIo): Promise<number> => {
  try {
    const { command, values } = parseCommandLine(argv);
    if (!command) {
      io.out(usage);
      return 0;
    }
    // Found only once the command's own options are known good: a bad date is named before a missing cloud.
    let found: Target | undefined;
    const target = () => (found ??= values.aws ? awsTarget(values) : localTarget(values, io));
    if (command === 'verify') return await verify(target, values, io);
    if (command === 'query') return await query(target, values, io);
    return await trail(target, values, io);
  } catch (error) {
    if (error instanceof UsageError || error instanceof DomainError) io.err(`audit: ${error.message}`);
    else {
      // AWS or the emulator refused or could not be reached: its one line, never a stack trace.
      const e = error as { name?: string; message?: string; code?: string };
      io.err(`audit: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${(e.message ?? String(error)).split('\n')[0]}`);
    }
    return 2;
  }
};

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  runAuditCli(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
  }).then((code) => {
    process.exitCode = code;
  });
}
