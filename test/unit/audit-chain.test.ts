import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalFileAuditSigner } from '../../lambdas/adapters/audit-signer-local';
import { argumentsHash, auditEntryHash, canonicalJson, QueryAuditArgsSchema, sealAuditEntry, VerifyAuditArgsSchema, type AuditDraft, type AuditEntry } from '../../lambdas/contracts/audit';
import { verifyChain } from '../../lambdas/domain/audit';
import { ValidationError } from '../../lambdas/domain/errors';
import { appendAudit, AUDIT_PAGE_SIZE, AuditTamperedError, queryAudit, verifyAudit, writeAuditDigest, type AuditProgress } from '../../lambdas/domain/use-cases/audit';
import { InMemoryAuditDigestStore, InMemoryAuditStore, InMemoryTaskRepository, silentLogger } from '../../bin/harness/in-memory';
import { auditUpkeep } from '../../lambdas/domain/use-cases/audit-upkeep';

const T0 = Date.parse('2026-11-26T10:00:00Z');
const clockAt = () => {
  let tick = 0;
  return { now: () => new Date(T0 + 1000 * tick++) };
};
const draft = (i: number, overrides: Partial<AuditDraft> = {}): AuditDraft => ({
  tenantId: 'acme',
  subject: i % 2 ? 'alice' : 'bob',
  clientId: 'agent-1',
  kind: 'tool',
  action: i % 3 ? 'submit_task' : 'cancel_task',
  decision: i % 4 === 3 ? 'deny' : 'allow',
  argumentsHash: argumentsHash({ input: i }),
  outcome: i % 4 === 3 ? { status: 'error', code: 'FORBIDDEN' } : { status: 'ok' },
  requestId: `req-${i}`,
  ...overrides,
});
const keyDir = mkdtempSync(join(tmpdir(), 'audit-key-'));
const signer = new LocalFileAuditSigner(join(keyDir, 'audit.pem'));

/** A log of `count` entries for tenant acme, and what verify needs. */
const logOf = async (count: number) => {
  const store = new InMemoryAuditStore();
  const digests = new InMemoryAuditDigestStore();
  const clock = clockAt();
  for (let i = 1; i <= count; i++) await appendAudit({ store, clock }, draft(i));
  const log = store.tenant('acme');
  const entry = (seq: number) => log.get(seq)!;
  const verify = (range: { fromSeq?: number; toSeq?: number; onProgress?: (p: AuditProgress) => void } = {}) =>
    verifyAudit({ store, digests, verifier: signer }, { tenantId: 'acme', ...range });
  const kinds = async (range?: { fromSeq?: number; toSeq?: number }) => (await verify(range)).findings.map(({ detail: _d, ...rest }) => rest);
  return { store, digests, clock, log, entry, verify, kinds };
};

describe('audit entries: canonical form and hash', () => {
  it('hashes arguments independently of key order, and never keeps them', () => {
    expect(argumentsHash({ b: 1, a: { y: [1, { d: 2, c: 3 }], x: 'é' } })).toBe(argumentsHash({ a: { x: 'é', y: [1, { c: 3, d: 2 }] }, b: 1 }));
    expect(canonicalJson({ b: 1, a: undefined, c: [undefined] })).toBe('{"b":1,"c":[null]}');
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/non-finite/);
    expect(() => canonicalJson({ a: 1n })).toThrow(/bigint/);
  });

  it('chains each entry to the previous one by hash, from the genesis hash', async () => {
    const { entry } = await logOf(3);
    expect(entry(1)).toMatchObject({ seq: 1, prevHash: '0'.repeat(64), time: '2026-11-26T10:00:00.000Z' });
    expect(entry(2).prevHash).toBe(entry(1).hash);
    expect(entry(3).prevHash).toBe(entry(2).hash);
    expect(auditEntryHash(entry(3))).toBe(entry(3).hash);
  });

  it('refuses a draft carrying raw arguments or a malformed hash (strict schema), with a clear error', async () => {
    const store = new InMemoryAuditStore();
    await expect(appendAudit({ store, clock: clockAt() }, { ...draft(1), arguments: { secret: 'x' } } as AuditDraft)).rejects.toThrow(ValidationError);
    await expect(appendAudit({ store, clock: clockAt() }, draft(1, { argumentsHash: 'not-a-hash' }))).rejects.toThrow(/argumentsHash/);
    expect(store.tenant('acme').size).toBe(0);
  });

  it('appends after a head item that is no valid entry (verify then reports that item only)', async () => {
    const { store, clock, log, kinds } = await logOf(5);
    log.set(5, undefined);
    expect(await appendAudit({ store, clock }, draft(6))).toMatchObject({ seq: 6 });
    expect(await kinds()).toEqual([{ kind: 'altered', seq: 5 }]);
  });

  it('keeps one chain per tenant', async () => {
    const { store, clock } = await logOf(2);
    const other = await appendAudit({ store, clock }, draft(1, { tenantId: 'globex' }));
    expect(other).toMatchObject({ seq: 1, prevHash: '0'.repeat(64) });
  });
});

describe('verify reports each kind of tampering precisely', () => {
  it('reports nothing on an untouched log', async () => {
    const { verify } = await logOf(12);
    expect(await verify()).toMatchObject({ entries: 12, fromSeq: 1, toSeq: 12, findings: [] });
  });

  it('altered: a field changed, hash left as it was', async () => {
    const { log, entry, kinds } = await logOf(10);
    log.set(5, { ...entry(5), decision: 'allow', outcome: { status: 'ok' }, subject: 'mallory' });
    expect(await kinds()).toEqual([{ kind: 'altered', seq: 5 }]);
  });

  it('altered: a field changed and the hash recomputed (the successor still chains to the old hash)', async () => {
    const { log, entry, kinds } = await logOf(10);
    const { hash: _old, ...body } = entry(5);
    log.set(5, sealAuditEntry({ ...body, subject: 'mallory' }));
    expect(await kinds()).toEqual([{ kind: 'altered', seq: 5 }]);
  });

  it('altered: an item that is no valid entry at all', async () => {
    const { log, kinds } = await logOf(6);
    log.set(3, undefined);
    expect(await kinds()).toEqual([{ kind: 'altered', seq: 3 }]);
  });

  it('deleted: one entry, and a run of entries, each reported as one range', async () => {
    const one = await logOf(10);
    one.log.delete(5);
    expect(await one.kinds()).toEqual([{ kind: 'deleted', fromSeq: 5, toSeq: 5 }]);
    const run = await logOf(10);
    for (const seq of [4, 5, 6]) run.log.delete(seq);
    expect(await run.kinds()).toEqual([{ kind: 'deleted', fromSeq: 4, toSeq: 6 }]);
    const first = await logOf(4);
    first.log.delete(1);
    expect(await first.kinds()).toEqual([{ kind: 'deleted', fromSeq: 1, toSeq: 1 }]);
  });

  it('inserted: a forged, well-chained entry slid in with the later entries moved up one seq', async () => {
    const { log, entry, kinds } = await logOf(10);
    for (let seq = 10; seq >= 5; seq--) log.set(seq + 1, entry(seq));
    log.set(5, sealAuditEntry({ ...draft(99, { subject: 'mallory', action: 'grant_role' }), seq: 5, prevHash: entry(4).hash, time: entry(4).time }));
    expect(await kinds()).toEqual([{ kind: 'inserted', seq: 5 }]);
  });

  it('inserted: a forged entry appended with a link into the past', async () => {
    const { log, entry, kinds } = await logOf(10);
    log.set(11, sealAuditEntry({ ...draft(99), seq: 11, prevHash: entry(7).hash, time: entry(10).time }));
    expect(await kinds()).toEqual([{ kind: 'inserted', seq: 11 }]);
  });

  it('reordered: two entries swapped, both reported, nothing else', async () => {
    const { log, entry, kinds } = await logOf(10);
    const [five, six] = [entry(5), entry(6)];
    log.set(5, six);
    log.set(6, five);
    expect(await kinds()).toEqual([
      { kind: 'reordered', seq: 5 },
      { kind: 'reordered', seq: 6 },
    ]);
  });

  it('several kinds at once are each reported where they happened', async () => {
    const { log, entry, kinds } = await logOf(20);
    log.set(3, { ...entry(3), action: 'delete_everything' });
    log.delete(8);
    const [twelve, thirteen] = [entry(12), entry(13)];
    log.set(12, thirteen);
    log.set(13, twelve);
    log.set(21, sealAuditEntry({ ...draft(99), seq: 21, prevHash: entry(15).hash, time: entry(20).time }));
    expect(await kinds()).toEqual([
      { kind: 'altered', seq: 3 },
      { kind: 'deleted', fromSeq: 8, toSeq: 8 },
      { kind: 'reordered', seq: 12 },
      { kind: 'reordered', seq: 13 },
      { kind: 'inserted', seq: 21 },
    ]);
  });

  it('a range is anchored on the entry before it, and reports only what lies in it', async () => {
    const { log, entry, kinds } = await logOf(12);
    log.set(2, { ...entry(2), subject: 'mallory' });
    const { hash: _old, ...body } = entry(6);
    log.set(6, sealAuditEntry({ ...body, subject: 'mallory' }));
    expect(await kinds({ fromSeq: 4, toSeq: 9 })).toEqual([{ kind: 'altered', seq: 6 }]);
    expect(await kinds({ fromSeq: 7, toSeq: 12 })).toEqual([]);
    // The range's first entry no longer chains to its anchor: the anchor (outside) or it was rewritten.
    expect(verifyChain([{ seq: 7, entry: entry(7) }], entry(5))).toEqual([
      expect.objectContaining({ kind: 'deleted', fromSeq: 6, toSeq: 6 }),
    ]);
  });

  it('rejects a bad range with a clear error', async () => {
    const { verify } = await logOf(1);
    await expect(verify({ fromSeq: 0 })).rejects.toThrow(ValidationError);
    await expect(verify({ fromSeq: 5, toSeq: 2 })).rejects.toThrow(/from must not exceed to/);
  });

  it('reports progress after each page on a long range', async () => {
    const { verify } = await logOf(AUDIT_PAGE_SIZE + 20);
    const progress: AuditProgress[] = [];
    const report = await verify({ onProgress: (p) => progress.push(p) });
    expect(report.findings).toEqual([]);
    expect(progress).toEqual([
      { read: AUDIT_PAGE_SIZE, atSeq: AUDIT_PAGE_SIZE },
      { read: AUDIT_PAGE_SIZE + 20, atSeq: AUDIT_PAGE_SIZE + 20 },
    ]);
  });
});

describe('signed digests', () => {
  it('a digest signs the head; verify checks it and reports nothing on an untouched log', async () => {
    const { store, digests, clock, verify } = await logOf(6);
    const signed = await writeAuditDigest({ store, digests, signer, clock }, 'acme', 1);
    expect(signed?.digest).toMatchObject({ tenantId: 'acme', fromSeq: 1, toSeq: 6, headHash: (await store.head('acme'))!.hash });
    expect(signed?.keyId).toMatch(/^local:[0-9a-f]{32}$/);
    expect(await verify()).toMatchObject({ digests: 1, findings: [] });
    expect(await writeAuditDigest({ store, digests, signer, clock }, 'acme', 7)).toBeUndefined();
  });

  it('reports a digest whose signature does not verify (changed digest, other key, garbage)', async () => {
    const { store, digests, clock, kinds } = await logOf(6);
    await writeAuditDigest({ store, digests, signer, clock }, 'acme', 1);
    digests.digests[0]!.digest.toSeq = 5;
    digests.digests[0]!.digest.headHash = store.tenant('acme').get(5)!.hash;
    expect(await kinds()).toEqual([{ kind: 'digest', toSeq: 5 }]);

    const other = new LocalFileAuditSigner(join(mkdtempSync(join(tmpdir(), 'audit-key-')), 'other.pem'));
    const forged = await logOf(6);
    await writeAuditDigest({ store: forged.store, digests: forged.digests, signer: other, clock: forged.clock }, 'acme', 1);
    expect(await forged.kinds()).toEqual([{ kind: 'digest', toSeq: 6 }]);
    forged.digests.digests[0] = { ...forged.digests.digests[0]!, keyId: signer.keyId, signature: 'AAAA' };
    expect(await forged.kinds()).toEqual([{ kind: 'digest', toSeq: 6 }]);
  });

  it('catches what the chain alone cannot: a truncated tail, and a tail rewritten with recomputed hashes', async () => {
    const cut = await logOf(8);
    await writeAuditDigest({ store: cut.store, digests: cut.digests, signer, clock: cut.clock }, 'acme', 1);
    cut.log.delete(8);
    expect(await cut.kinds()).toEqual([{ kind: 'deleted', fromSeq: 8, toSeq: 8 }]);

    const rewritten = await logOf(8);
    await writeAuditDigest({ store: rewritten.store, digests: rewritten.digests, signer, clock: rewritten.clock }, 'acme', 1);
    const { hash: _old, ...body } = rewritten.entry(8);
    rewritten.log.set(8, sealAuditEntry({ ...body, subject: 'mallory' }));
    expect(await rewritten.kinds()).toEqual([{ kind: 'digest', toSeq: 8 }]);
  });

  it('refuses to sign a range that does not verify, and stores no digest', async () => {
    const { store, digests, clock, log, entry } = await logOf(6);
    log.set(4, { ...entry(4), subject: 'mallory' });
    const refused = writeAuditDigest({ store, digests, signer, clock }, 'acme', 1);
    await expect(refused).rejects.toBeInstanceOf(AuditTamperedError);
    await expect(refused).rejects.toMatchObject({ code: 'AUDIT_TAMPERED', findings: [expect.objectContaining({ kind: 'altered', seq: 4 })] });
    expect(digests.digests).toEqual([]);
    expect(await writeAuditDigest({ store, digests, signer, clock }, 'acme', 5)).toMatchObject({ digest: { fromSeq: 5, toSeq: 6 } });
  });

  it('the local key file is created 0600 and a world-readable one is refused', () => {
    expect(statSync(join(keyDir, 'audit.pem')).mode & 0o777).toBe(0o600);
    const loose = join(keyDir, 'loose.pem');
    writeFileSync(loose, 'x', { mode: 0o644 });
    expect(() => new LocalFileAuditSigner(loose)).toThrow(/readable by others/);
  });
});

describe('the reconciler\'s upkeep reads each entry once', () => {
  it('signs a digest of 1,234 entries (three pages) from one read of them, and its completion entries from one more', async () => {
    const { store, digests, clock } = await logOf(1234);
    // One intent left open long ago (to be completed), so the upkeep appends after its read.
    await appendAudit({ store, clock }, draft(1235, { outcome: { status: 'pending' }, target: 'task:tsk_aaaaaaaaaaaaaaaaaaaaaaaaaa' }));
    let itemsRead = 0;
    const list = store.list.bind(store);
    store.list = async (tenantId, range) => {
      const items = await list(tenantId, range);
      itemsRead += items.length;
      return items;
    };
    const later = { now: () => new Date(T0 + 24 * 3600_000) };
    const report = await auditUpkeep({ store, digests, signer, tasks: new InMemoryTaskRepository(), clock: later, logger: silentLogger });
    expect(report).toMatchObject({ completed: 1, digests: 1, tampered: [] });
    expect(digests.digests.map((d) => [d.digest.fromSeq, d.digest.toSeq])).toEqual([[1, 1236]]);
    // 1,235 entries read once, the completion entry once (was twice each: the upkeep's read, then the digest's).
    expect(itemsRead).toBe(1236);
    expect((await verifyAudit({ store, digests, verifier: signer }, { tenantId: 'acme' })).findings).toEqual([]);
  });
});

describe('query', () => {
  it('filters by subject, action and decision, oldest first, one page at a time with a cursor', async () => {
    const { store } = await logOf(40);
    const wanted = (e: AuditEntry) => e.subject === 'alice' && e.decision === 'deny';
    const all = [...store.tenant('acme').values()].filter((e): e is AuditEntry => !!e && wanted(e)).map((e) => e.seq);
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await queryAudit({ store }, { tenantId: 'acme', subject: 'alice', decision: 'deny', limit: 3, ...(cursor ? { cursor } : {}) });
      expect(page.entries.length).toBeLessThanOrEqual(3);
      seen.push(...page.entries.map((e) => e.seq));
      cursor = page.nextCursor;
    } while (cursor);
    expect(all.length).toBeGreaterThan(3);
    expect(seen).toEqual(all);
    await expect(queryAudit({ store }, { tenantId: 'acme', limit: 3, cursor: 'x; drop' })).rejects.toThrow(/invalid cursor/);
    await expect(queryAudit({ store }, { tenantId: 'acme', limit: 0 })).rejects.toThrow(ValidationError);
    expect((await queryAudit({ store }, { tenantId: 'globex', limit: 3 })).entries).toEqual([]);
  });
});

describe('query and verify arguments (the tools\' boundary)', () => {
  it('filters by kind and by time, whatever the precision of the times given', async () => {
    const { store, clock } = await logOf(6);
    await appendAudit({ store, clock }, draft(7, { kind: 'admin', action: 'role.granted' }));
    expect((await queryAudit({ store }, { tenantId: 'acme', kind: 'admin', limit: 10 })).entries.map((e) => e.seq)).toEqual([7]);
    const window = await queryAudit({ store }, { tenantId: 'acme', since: '2026-11-26T10:00:02Z', until: '2026-11-26T10:00:04.000Z', limit: 10 });
    expect(window.entries.map((e) => e.seq)).toEqual([3, 4, 5]);
    await expect(queryAudit({ store }, { tenantId: 'acme', since: 'yesterday', limit: 10 })).rejects.toThrow(/ISO times/);
  });

  it('parses good arguments with defaults and refuses hostile ones with a message naming the field', () => {
    expect(QueryAuditArgsSchema.parse({})).toEqual({ filters: {}, limit: 50 });
    expect(VerifyAuditArgsSchema.parse({ tenant: 'acme', from: 2, to: 9 })).toEqual({ tenant: 'acme', from: 2, to: 9 });
    const refused = [
      [VerifyAuditArgsSchema, { from: 9, to: 2 }, 'from'],
      [VerifyAuditArgsSchema, { from: 0 }, 'from'],
      [VerifyAuditArgsSchema, { to: 1.5 }, 'to'],
      [VerifyAuditArgsSchema, { tenant: 'x'.repeat(300) }, 'tenant'],
      [QueryAuditArgsSchema, { cursor: '1; drop table' }, 'cursor'],
      [QueryAuditArgsSchema, { limit: 100_000 }, 'limit'],
      [QueryAuditArgsSchema, { filters: { since: 'yesterday' } }, 'filters.since'],
      [QueryAuditArgsSchema, { filters: { $where: '1' } }, 'filters'],
      [QueryAuditArgsSchema, { extra: true }, ''],
    ] as const;
    for (const [schema, args, path] of refused) {
      const result = schema.safeParse(args);
      expect(result.success, JSON.stringify(args)).toBe(false);
      expect(result.error?.issues[0]?.path.join('.'), JSON.stringify(args)).toBe(path);
    }
  });
});
