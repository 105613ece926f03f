import {
  AUDIT_MAX_SEQ,
  auditDigestMessage,
  AuditDraftSchema,
  GENESIS_HASH,
  sealAuditEntry,
  type AuditDigest,
  type AuditDraft,
  type AuditEntry,
  type SignedAuditDigest,
} from '../../contracts/audit';
import {
  verifyChain,
  verifyDigests,
  type AuditDigestStore,
  type AuditFinding,
  type AuditSigner,
  type AuditStore,
  type AuditVerifier,
  type StoredAuditItem,
} from '../audit';
import { ConcurrencyError, DomainError, ValidationError } from '../errors';
import type { Clock } from '../ports';

/** Appends lost to another writer before giving up (each loss means another entry was appended). */
export const AUDIT_APPEND_ATTEMPTS = 64;
/** Items read per store call while verifying or querying. */
export const AUDIT_PAGE_SIZE = 500;

export interface AuditDeps {
  store: AuditStore;
  clock: Clock;
  /** Waits a little after a lost race (jitter spreads competing writers); tests may pass a no-op. */
  pause?: (attempt: number) => Promise<void>;
}

const jitter = (attempt: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.random() * Math.min(20, 2 * attempt)));

/**
 * Appends one entry to the tenant's chain: reads the head, writes seq + 1 chained to the head's hash,
 * conditional on that seq being free (one single-item conditional write); on a lost race, re-reads
 * and tries again. Concurrent writers from any number of instances so keep one chain with no gap.
 */
export const appendAudit = async (deps: AuditDeps, draft: AuditDraft): Promise<AuditEntry> => {
  const parsed = AuditDraftSchema.safeParse(draft);
  if (!parsed.success) throw new ValidationError(`invalid audit entry: ${parsed.error.issues[0]?.path.join('.') || '(root)'}: ${parsed.error.issues[0]?.message}`);
  for (let attempt = 1; attempt <= AUDIT_APPEND_ATTEMPTS; attempt++) {
    const head = await deps.store.head(parsed.data.tenantId);
    // A tenant's first entry: listed first, so the reconciler finds every chain (a crash in between lists an empty one).
    if (!head && attempt === 1) await deps.store.registerTenant(parsed.data.tenantId);
    const seq = (head?.seq ?? 0) + 1;
    if (seq > AUDIT_MAX_SEQ) throw new ValidationError('the tenant audit log is full');
    const entry = sealAuditEntry({ ...parsed.data, seq, prevHash: head?.hash ?? GENESIS_HASH, time: deps.clock.now().toISOString() });
    try {
      await deps.store.append(entry);
      return entry;
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
      await (deps.pause ?? jitter)(attempt);
    }
  }
  throw new ConcurrencyError(`the audit entry was not appended after ${AUDIT_APPEND_ATTEMPTS} lost races`);
};

export interface AuditProgress {
  /** Items read so far. */
  read: number;
  /** The last seq read. */
  atSeq: number;
}

export interface VerifyAuditRequest {
  tenantId: string;
  fromSeq?: number;
  toSeq?: number;
  onProgress?: (progress: AuditProgress) => void;
}

export interface VerifyAuditReport {
  tenantId: string;
  fromSeq: number;
  /** The last seq read (fromSeq - 1 when the range is empty). */
  toSeq: number;
  entries: number;
  digests: number;
  findings: AuditFinding[];
}

/**
 * A tenant's stored items from fromSeq (to toSeq, or the head), page by page; with `max`, it stops
 * after the page that reaches it (the rest waits for a later read).
 */
export const readRange = async (
  store: AuditStore,
  tenantId: string,
  fromSeq: number,
  toSeq: number | undefined,
  options: { onProgress?: (progress: AuditProgress) => void; max?: number } = {},
): Promise<StoredAuditItem[]> => {
  const items: StoredAuditItem[] = [];
  let next = fromSeq;
  for (;;) {
    const page = await store.list(tenantId, { fromSeq: next, ...(toSeq === undefined ? {} : { toSeq }), limit: AUDIT_PAGE_SIZE });
    items.push(...page);
    if (page.length) options.onProgress?.({ read: items.length, atSeq: page.at(-1)!.seq });
    if (page.length < AUDIT_PAGE_SIZE || (options.max !== undefined && items.length >= options.max)) return items;
    next = page.at(-1)!.seq + 1;
  }
};

const checkRange = (fromSeq: number | undefined, toSeq: number | undefined) => {
  for (const [name, value] of [['from', fromSeq], ['to', toSeq]] as const)
    if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > AUDIT_MAX_SEQ)) throw new ValidationError(`${name} must be a whole number from 1 to ${AUDIT_MAX_SEQ}`);
  if (fromSeq !== undefined && toSeq !== undefined && fromSeq > toSeq) throw new ValidationError('from must not exceed to');
};

/**
 * Verifies a tenant's chain over [fromSeq, toSeq] (default: all of it) and the signed digests that end
 * in it: reports each altered, deleted, inserted or reordered entry and each digest that does not hold.
 * The entry before the range anchors it. Reports progress after each page read.
 */
export const verifyAudit = async (
  deps: { store: AuditStore; digests: AuditDigestStore; verifier: AuditVerifier },
  request: VerifyAuditRequest,
): Promise<VerifyAuditReport> => {
  checkRange(request.fromSeq, request.toSeq);
  const fromSeq = request.fromSeq ?? 1;
  const [anchorItem] = fromSeq > 1 ? await deps.store.list(request.tenantId, { fromSeq: fromSeq - 1, toSeq: fromSeq - 1, limit: 1 }) : [];
  const items = await readRange(deps.store, request.tenantId, fromSeq, request.toSeq, request.onProgress ? { onProgress: request.onProgress } : {});
  const findings = verifyChain(items, fromSeq === 1 ? 'genesis' : anchorItem?.entry);
  const toSeq = items.reduce((highest, item) => Math.max(highest, item.seq), fromSeq - 1);
  const digests = await deps.digests.list(request.tenantId, { fromSeq, toSeq: request.toSeq ?? AUDIT_MAX_SEQ });
  const bySeq = new Map(items.map((item) => [item.seq, item.entry]));
  findings.push(...(await verifyDigests(digests, (seq) => bySeq.get(seq), deps.verifier)));
  return { tenantId: request.tenantId, fromSeq, toSeq, entries: items.length, digests: digests.length, findings };
};

export interface AuditQuery {
  tenantId: string;
  subject?: string;
  action?: string;
  decision?: 'allow' | 'deny';
  kind?: AuditEntry['kind'];
  /** ISO times, inclusive. */
  since?: string;
  until?: string;
  limit: number;
  /** Opaque: the seq to resume after, from a previous page. */
  cursor?: string;
}

export interface AuditPage {
  entries: AuditEntry[];
  nextCursor?: string;
}

/** Items examined per query call at most, so a filter that matches little still answers promptly. */
export const AUDIT_QUERY_SCAN_LIMIT = 5_000;

/** A tenant's entries matching the filters, oldest first, one page at a time. */
export const queryAudit = async (deps: { store: AuditStore }, query: AuditQuery): Promise<AuditPage> => {
  if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > 1000) throw new ValidationError('limit must be a whole number from 1 to 1000');
  let from = 1;
  if (query.cursor !== undefined) {
    if (!/^\d{1,12}$/.test(query.cursor)) throw new ValidationError('invalid cursor');
    from = Number(query.cursor) + 1;
  }
  const [since, until] = [query.since, query.until].map((time) => (time === undefined ? undefined : Date.parse(time)));
  if (Number.isNaN(since) || Number.isNaN(until)) throw new ValidationError('since and until must be ISO times');
  const matches = (entry: AuditEntry) =>
    (query.subject === undefined || entry.subject === query.subject) &&
    (query.action === undefined || entry.action === query.action) &&
    (query.decision === undefined || entry.decision === query.decision) &&
    (query.kind === undefined || entry.kind === query.kind) &&
    (since === undefined || Date.parse(entry.time) >= since) &&
    (until === undefined || Date.parse(entry.time) <= until);
  const entries: AuditEntry[] = [];
  let scanned = 0;
  for (;;) {
    const page = await deps.store.list(query.tenantId, { fromSeq: from, limit: AUDIT_PAGE_SIZE });
    for (const item of page) {
      scanned++;
      if (item.entry && matches(item.entry)) entries.push(item.entry);
      if (entries.length === query.limit || scanned === AUDIT_QUERY_SCAN_LIMIT) {
        const more = item !== page.at(-1) || page.length === AUDIT_PAGE_SIZE;
        return { entries, ...(more ? { nextCursor: String(item.seq) } : {}) };
      }
    }
    if (page.length < AUDIT_PAGE_SIZE) return { entries };
    from = page.at(-1)!.seq + 1;
  }
};

/** A digest was refused: the range it would cover does not verify (`findings` say how). */
export class AuditTamperedError extends DomainError {
  readonly code = 'AUDIT_TAMPERED';
  constructor(tenantId: string, readonly findings: AuditFinding[]) {
    super(`the audit log of tenant ${tenantId} does not verify (${findings.length} finding(s)); no digest was signed`);
  }
}

/**
 * Signs a digest of the tenant's chain from fromSeq to its current head and stores it, after
 * verifying that range (AuditTamperedError when it does not verify). Returns undefined when there is
 * nothing new since fromSeq. `read`: the items from fromSeq the caller has just read (readRange), so
 * only what came after them is read again.
 */
export const writeAuditDigest = async (
  deps: { store: AuditStore; digests: AuditDigestStore; signer: AuditSigner; clock: Clock },
  tenantId: string,
  fromSeq: number,
  /** The last seq to cover (default: the head). */
  upTo?: number,
  read: readonly StoredAuditItem[] = [],
): Promise<SignedAuditDigest | undefined> => {
  checkRange(fromSeq, upTo);
  const current = await deps.store.head(tenantId);
  if (!current || current.seq < fromSeq) return undefined;
  let head = current;
  if (upTo !== undefined && upTo < current.seq) {
    const [item] = await deps.store.list(tenantId, { fromSeq: upTo, toSeq: upTo, limit: 1 });
    if (!item?.entry) throw new AuditTamperedError(tenantId, [{ kind: 'altered', seq: upTo, detail: 'the entry a digest would end at is missing or no valid entry' }]);
    head = { seq: upTo, hash: item.entry.hash };
  }
  // Sign only a range that verifies: a digest vouches for what it covers.
  const [anchorItem] = fromSeq > 1 ? await deps.store.list(tenantId, { fromSeq: fromSeq - 1, toSeq: fromSeq - 1, limit: 1 }) : [];
  const known = read[0]?.seq === fromSeq ? read.filter((item) => item.seq <= head.seq) : [];
  const nextSeq = known.length ? known.at(-1)!.seq + 1 : fromSeq;
  const items = nextSeq <= head.seq ? [...known, ...(await readRange(deps.store, tenantId, nextSeq, head.seq))] : known;
  const findings = verifyChain(items, fromSeq === 1 ? 'genesis' : anchorItem?.entry);
  if (findings.length) throw new AuditTamperedError(tenantId, findings);
  const digest: AuditDigest = { tenantId, fromSeq, toSeq: head.seq, headHash: head.hash, time: deps.clock.now().toISOString() };
  const signed: SignedAuditDigest = { digest, keyId: deps.signer.keyId, signature: await deps.signer.sign(auditDigestMessage(digest)), algorithm: 'ECDSA_SHA_256' };
  await deps.digests.put(signed);
  return signed;
};
