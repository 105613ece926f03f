import { createHash } from 'node:crypto';
import * as z from 'zod';

/**
 * The audit log's contract (docs/audit.md): the entry, its canonical serialization and hash (the one
 * definition the writer, the verifier, the CLI and the tests share), the signed digest, and the audit
 * table's keys.
 *
 * Its own table, not the tasks table: the audit writer is granted PutItem and Query on it and nothing
 * else (no UpdateItem, no DeleteItem), the table's retention and backups follow the auditors' rules
 * and not the tasks' TTL, and no task path or index ever reads or writes an audit partition.
 *
 * Item:   pk = AUDIT#<tenant>   sk = SEQ#<seq, 12 digits>   (one hash chain per tenant)
 * Digest: pk = AUDIT#<tenant>   sk = DIGEST#<toSeq, 12 digits>  (locally; on AWS the S3 Object Lock bucket)
 */
export const AUDIT_TABLE = { partitionKey: 'pk', sortKey: 'sk' } as const;
export const AUDIT_SEQ_DIGITS = 12;
export const AUDIT_MAX_SEQ = 10 ** AUDIT_SEQ_DIGITS - 1;

const pad = (seq: number) => String(seq).padStart(AUDIT_SEQ_DIGITS, '0');
export const auditKeys = {
  tenant: (tenantId: string) => `AUDIT#${tenantId}`,
  seq: (seq: number) => `SEQ#${pad(seq)}`,
  seqPrefix: 'SEQ#',
  digest: (toSeq: number) => `DIGEST#${pad(toSeq)}`,
  digestPrefix: 'DIGEST#',
  /** The seq a sort key names, or undefined when it is not an entry's key. */
  seqOf: (sk: string): number | undefined => {
    const match = /^SEQ#(\d{12})$/.exec(sk);
    return match ? Number(match[1]) : undefined;
  },
};

/**
 * The partition listing every tenant with an audit log (sk = the tenant id), written once when a
 * tenant's first entry is appended: how the reconciler finds the chains to digest and complete.
 */
export const AUDIT_TENANTS_PK = 'AUDIT_TENANTS';

/** The subject of entries a platform function records on its own (transitions): `system:<function>`. */
export const systemSubject = (fn: string): string => `system:${fn}`;

/** The prevHash of a tenant's first entry. */
export const GENESIS_HASH = '0'.repeat(64);

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex digest');
const Seq = z.number().int().min(1).max(AUDIT_MAX_SEQ);
const Name = z.string().min(1).max(256);

/** What was done: a tool call, a task or workflow transition, an access decision, or an admin action. */
export const AUDIT_KINDS = ['tool', 'transition', 'access', 'admin'] as const;

/**
 * How it ended. `pending` marks an intent entry (written before the operation); the outcome entry
 * written after it names the intent in `completes` (docs/audit.md, "An acknowledged action always has
 * its entry").
 */
export const AuditOutcomeSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('pending') }).strict(),
  z.object({ status: z.literal('ok') }).strict(),
  z.object({ status: z.literal('error'), code: z.string().min(1).max(64) }).strict(),
]);
export type AuditOutcome = z.infer<typeof AuditOutcomeSchema>;

/** What a caller records: no raw arguments, only their hash (`argumentsHash`). */
export const AuditDraftSchema = z
  .object({
    tenantId: Name,
    subject: Name,
    clientId: Name.optional(),
    kind: z.enum(AUDIT_KINDS),
    /** The tool name, the transition (`task.cancelled`) or the admin action (`role.granted`). */
    action: Name,
    decision: z.enum(['allow', 'deny']),
    argumentsHash: Hex64.optional(),
    outcome: AuditOutcomeSchema,
    requestId: Name,
    /**
     * What the action acts on, when known before it runs: `task:<taskId>`, `grant:<subject>:<role>`.
     * The reconciler completes a pending intent from its target's state (docs/audit.md).
     */
    target: Name.optional(),
    /** The seq of the intent entry this outcome entry completes. */
    completes: Seq.optional(),
  })
  .strict();
export type AuditDraft = z.infer<typeof AuditDraftSchema>;

export const AuditEntrySchema = AuditDraftSchema.extend({
  seq: Seq,
  time: z.iso.datetime(),
  prevHash: Hex64,
  hash: Hex64,
}).strict();
export type AuditEntry = z.infer<typeof AuditEntrySchema>;

/**
 * Canonical JSON: object keys sorted (code point order) at every depth, no whitespace, `undefined`
 * members left out. Throws on what JSON cannot say exactly (non-finite numbers, bigint, functions),
 * so two writers never hash one value two ways.
 */
export const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('canonicalJson: a non-finite number has no JSON form');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
  }
  throw new TypeError(`canonicalJson: a ${typeof value} has no JSON form`);
};

export const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** The hash of a tool call's or an operation's arguments: what the entry keeps instead of them. */
export const argumentsHash = (args: unknown): string => sha256Hex(canonicalJson(args));

/** An entry's hash: SHA-256 of the canonical JSON of every field but `hash` (so it covers seq and prevHash). */
export const auditEntryHash = (entry: Omit<AuditEntry, 'hash'> & { hash?: string }): string => {
  const { hash: _ignored, ...body } = entry;
  return sha256Hex(canonicalJson(body));
};

/** Seals an entry: sets its hash. */
export const sealAuditEntry = (body: Omit<AuditEntry, 'hash'>): AuditEntry => ({ ...body, hash: auditEntryHash(body) });

/** A signed statement that a tenant's chain from fromSeq to toSeq ends in headHash. */
export const AuditDigestSchema = z
  .object({
    tenantId: Name,
    fromSeq: Seq,
    toSeq: Seq,
    headHash: Hex64,
    time: z.iso.datetime(),
  })
  .strict()
  .refine((digest) => digest.fromSeq <= digest.toSeq, { message: 'fromSeq must not exceed toSeq' });
export type AuditDigest = z.infer<typeof AuditDigestSchema>;

export const SignedAuditDigestSchema = z
  .object({
    digest: AuditDigestSchema,
    /** The signing key's id (a KMS key ARN, or `local:<fingerprint>`). */
    keyId: z.string().min(1).max(2048),
    /** ECDSA P-256 over SHA-256 of the digest's canonical JSON, DER, base64. */
    signature: z.string().min(1).max(512),
    algorithm: z.literal('ECDSA_SHA_256'),
  })
  .strict();
export type SignedAuditDigest = z.infer<typeof SignedAuditDigestSchema>;

/** The bytes a digest's signature covers. */
export const auditDigestMessage = (digest: AuditDigest): Uint8Array => Buffer.from(canonicalJson(digest), 'utf8');

/** `verify_audit` arguments (auditor role): a tenant (platform-wide auditors only; else the caller's), a seq range. */
export const VerifyAuditArgsSchema = z
  .object({ tenant: Name.optional(), from: Seq.optional(), to: Seq.optional() })
  .strict()
  .refine((args) => args.from === undefined || args.to === undefined || args.from <= args.to, { message: 'from must not exceed to', path: ['from'] });
export type VerifyAuditArgs = z.infer<typeof VerifyAuditArgsSchema>;

/** `query_audit` arguments (auditor role): filters, a page size and the cursor of the previous page. */
export const QueryAuditArgsSchema = z
  .object({
    tenant: Name.optional(),
    filters: z
      .object({
        subject: Name.optional(),
        action: Name.optional(),
        kind: z.enum(AUDIT_KINDS).optional(),
        decision: z.enum(['allow', 'deny']).optional(),
        since: z.iso.datetime().optional(),
        until: z.iso.datetime().optional(),
      })
      .strict()
      .default({}),
    limit: z.number().int().min(1).max(1000).default(50),
    cursor: z.string().regex(/^\d{1,12}$/, 'a cursor from a previous page').optional(),
  })
  .strict();
export type QueryAuditArgs = z.infer<typeof QueryAuditArgsSchema>;
