import {
  auditDigestMessage,
  auditEntryHash,
  GENESIS_HASH,
  type AuditEntry,
  type SignedAuditDigest,
} from '../contracts/audit';

/**
 * The audit log's domain (docs/audit.md): the ports, and verification of one tenant's hash chain as a
 * pure function over what the store holds.
 */

/** One stored item: the seq its key names, and its entry (undefined when the item is no valid entry). */
export interface StoredAuditItem {
  seq: number;
  entry: AuditEntry | undefined;
}

/**
 * Where a tenant's chain ends: the highest seq its keys hold, and that item's recorded hash (the
 * genesis hash when the item is no valid entry: the next entry then starts a visibly broken link,
 * and verify reports the item as altered, rather than every append failing on a taken seq).
 */
export interface AuditHead {
  seq: number;
  hash: string;
}

export interface AuditStore {
  /** The tenant's head (a consistent read), or undefined for an empty log. */
  head(tenantId: string): Promise<AuditHead | undefined>;
  /** Writes `entry` only if its seq is free; otherwise throws ConcurrencyError. */
  append(entry: AuditEntry): Promise<void>;
  /** Up to `limit` items from `fromSeq` on (up to `toSeq`), in key order. */
  list(tenantId: string, range: { fromSeq: number; toSeq?: number; limit: number }): Promise<StoredAuditItem[]>;
  /** Records that the tenant has an audit log (idempotent): written before its first entry. */
  registerTenant(tenantId: string): Promise<void>;
  /** Every tenant with an audit log, in id order. */
  tenants(): Promise<string[]>;
}

export interface AuditSigner {
  readonly keyId: string;
  /** ECDSA P-256 over SHA-256 of `message`, DER, base64. */
  sign(message: Uint8Array): Promise<string>;
}

export interface AuditVerifier {
  /** False (never a throw) when the signature does not verify, or `keyId` is not a key it trusts. */
  verify(message: Uint8Array, signature: string, keyId: string): Promise<boolean>;
}

export interface AuditDigestStore {
  put(digest: SignedAuditDigest): Promise<void>;
  /** The tenant's digests whose toSeq lies in the range, by toSeq. */
  list(tenantId: string, range: { fromSeq: number; toSeq?: number }): Promise<SignedAuditDigest[]>;
  /** The tenant's digest with the highest toSeq, or undefined when it has none. */
  latest(tenantId: string): Promise<SignedAuditDigest | undefined>;
}

/** What verify found wrong; `seq` is the position (the key) it was found at. */
export type AuditFinding =
  | { kind: 'altered'; seq: number; detail: string }
  | { kind: 'deleted'; fromSeq: number; toSeq: number; detail: string }
  | { kind: 'inserted'; seq: number; detail: string }
  | { kind: 'reordered'; seq: number; detail: string }
  | { kind: 'digest'; toSeq: number; detail: string };

/**
 * Verifies the entries of one tenant's chain. `items` are the stored items of the range in key order;
 * `anchor` is the entry just before the range, `'genesis'` when the range starts at seq 1, or undefined
 * when the entry before the range is missing (the first item's prevHash is then trusted).
 *
 * The chain is rebuilt from the links (each entry's prevHash names its predecessor's hash), not from
 * the keys, so each kind of tampering is reported once, where it happened:
 *  - altered:   an entry's content does not hash to its `hash` (or the item is no valid entry); or its
 *               hash was recomputed, so its successor chains to another hash;
 *  - deleted:   the chain jumps over seqs that no item holds;
 *  - inserted:  an item that no chain position accounts for (a forged entry beside the genuine one);
 *  - reordered: a chain entry stored out of key order.
 */
export const verifyChain = (items: readonly StoredAuditItem[], anchor: AuditEntry | 'genesis' | undefined): AuditFinding[] => {
  const findings: AuditFinding[] = [];
  const nodes: { at: number; entry: AuditEntry; intact: boolean }[] = [];
  for (const item of items) {
    if (!item.entry) findings.push({ kind: 'altered', seq: item.seq, detail: `the item at seq ${item.seq} is not a valid audit entry` });
    else {
      const intact = auditEntryHash(item.entry) === item.entry.hash;
      if (!intact) findings.push({ kind: 'altered', seq: item.seq, detail: `the entry at seq ${item.seq} does not hash to its recorded hash` });
      nodes.push({ at: item.seq, entry: item.entry, intact });
    }
  }
  if (nodes.length === 0) return findings;

  // Children by the hash they chain to; the longest chain below each node (iteratively, no recursion).
  const children = new Map<string, number[]>();
  nodes.forEach((node, index) => children.set(node.entry.prevHash, [...(children.get(node.entry.prevHash) ?? []), index]));
  const depth = new Array<number>(nodes.length).fill(0);
  const byHash = new Map<string, number[]>();
  nodes.forEach((node, index) => byHash.set(node.entry.hash, [...(byHash.get(node.entry.hash) ?? []), index]));
  const order = [...nodes.keys()].sort((a, b) => nodes[b]!.entry.seq - nodes[a]!.entry.seq || nodes[b]!.at - nodes[a]!.at);
  for (let pass = 0; pass < 2; pass++)
    for (const index of order) {
      const below = (children.get(nodes[index]!.entry.hash) ?? []).filter((child) => child !== index);
      depth[index] = 1 + Math.max(0, ...below.map((child) => depth[child]!));
    }
  const better = (a: number, b: number) => {
    const [x, y] = [nodes[a]!, nodes[b]!];
    if (depth[a] !== depth[b]) return depth[a]! > depth[b]! ? a : b;
    const xIntact = x.intact && x.at === x.entry.seq;
    const yIntact = y.intact && y.at === y.entry.seq;
    if (xIntact !== yIntact) return xIntact ? a : b;
    return x.at <= y.at ? a : b;
  };

  const onChain = new Set<number>();
  const chain: number[] = [];
  let hash = anchor === 'genesis' ? GENESIS_HASH : anchor ? anchor.hash : nodes[0]!.entry.prevHash;
  let lastSeq = anchor === 'genesis' ? 0 : anchor ? anchor.seq : nodes[0]!.entry.seq - 1;
  const unreadable = new Set(items.filter((item) => !item.entry).map((item) => item.seq));
  const alteredAt = new Set(findings.map((finding) => ('seq' in finding ? finding.seq : -1)));
  // Entries whose predecessor is nowhere (where the chain resumes after a break), lowest seq first.
  const orphans = [...nodes.keys()]
    .filter((index) => !byHash.has(nodes[index]!.entry.prevHash))
    .sort((a, b) => nodes[a]!.entry.seq - nodes[b]!.entry.seq || nodes[a]!.at - nodes[b]!.at);
  let orphanAt = 0;
  for (;;) {
    const next = (children.get(hash) ?? []).filter((index) => !onChain.has(index));
    let pick: number | undefined = next.length ? next.reduce(better) : undefined;
    if (pick === undefined) {
      // The chain breaks here: resume at the lowest entry not on it whose predecessor is nowhere.
      while (orphanAt < orphans.length && (onChain.has(orphans[orphanAt]!) || nodes[orphans[orphanAt]!]!.entry.seq <= lastSeq)) orphanAt++;
      if (orphanAt === orphans.length) break;
      pick = orphans[orphanAt]!;
      const resumed = nodes[pick]!.entry.seq;
      if (resumed > lastSeq + 1) {
        // Seqs held by items that are no valid entry are reported as altered, not as deleted.
        let runStart: number | undefined;
        for (let seq = lastSeq + 1; seq <= resumed; seq++) {
          const missing = seq < resumed && !unreadable.has(seq);
          if (missing && runStart === undefined) runStart = seq;
          if (!missing && runStart !== undefined) {
            const runEnd = seq - 1;
            findings.push({
              kind: 'deleted',
              fromSeq: runStart,
              toSeq: runEnd,
              detail: runStart === runEnd ? `the entry of seq ${runStart} is missing` : `the entries of seq ${runStart} to ${runEnd} are missing`,
            });
            runStart = undefined;
          }
        }
      } else if (chain.length && !alteredAt.has(nodes[chain.at(-1)!]!.at)) {
        const previous = nodes[chain.at(-1)!]!;
        findings.push({
          kind: 'altered',
          seq: previous.at,
          detail: `the entry at seq ${previous.at} was rewritten with a recomputed hash: entry ${resumed} chains to another`,
        });
        alteredAt.add(previous.at);
      }
    }
    onChain.add(pick);
    chain.push(pick);
    hash = nodes[pick]!.entry.hash;
    lastSeq = nodes[pick]!.entry.seq;
  }

  for (const [position, index] of chain.entries()) {
    const at = nodes[index]!.at;
    const before = position > 0 ? nodes[chain[position - 1]!]!.at : -Infinity;
    const after = position < chain.length - 1 ? nodes[chain[position + 1]!]!.at : Infinity;
    if (at < before || at > after)
      findings.push({ kind: 'reordered', seq: at, detail: `the entry of seq ${nodes[index]!.entry.seq} is stored at seq ${at}, out of chain order` });
  }
  nodes.forEach((node, index) => {
    if (!onChain.has(index))
      findings.push({ kind: 'inserted', seq: node.at, detail: `the entry at seq ${node.at} is not part of the chain (an inserted entry)` });
  });
  return findings.sort((a, b) => ('seq' in a ? a.seq : 'fromSeq' in a ? a.fromSeq : a.toSeq) - ('seq' in b ? b.seq : 'fromSeq' in b ? b.fromSeq : b.toSeq));
};

/**
 * Checks signed digests against the stored entries: each signature must verify, and the entry at the
 * digest's toSeq must still carry its headHash (which also catches a truncated tail, and a range
 * rewritten with recomputed hashes up to the digest).
 */
export const verifyDigests = async (
  digests: readonly SignedAuditDigest[],
  entryAt: (seq: number) => AuditEntry | undefined,
  verifier: AuditVerifier,
): Promise<AuditFinding[]> => {
  const findings: AuditFinding[] = [];
  for (const signed of digests) {
    const { digest } = signed;
    const valid = await verifier.verify(auditDigestMessage(digest), signed.signature, signed.keyId).catch(() => false);
    if (!valid) {
      findings.push({ kind: 'digest', toSeq: digest.toSeq, detail: `the digest of seq ${digest.fromSeq} to ${digest.toSeq} has a signature that does not verify` });
      continue;
    }
    const entry = entryAt(digest.toSeq);
    if (!entry) findings.push({ kind: 'deleted', fromSeq: digest.toSeq, toSeq: digest.toSeq, detail: `the entry of seq ${digest.toSeq}, signed in a digest, is missing` });
    else if (entry.hash !== digest.headHash)
      findings.push({ kind: 'digest', toSeq: digest.toSeq, detail: `the entry at seq ${digest.toSeq} differs from the one the digest signed` });
  }
  return findings;
};
