import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
// @ts-expect-error dynalite ships no type declarations
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalFileAuditSigner } from '../../lambdas/adapters/audit-signer-local';
import { DynamoDbAuditDigestStore, DynamoDbAuditStore } from '../../lambdas/adapters/dynamodb-audit-store';
import { AUDIT_TABLE, argumentsHash, auditKeys, type AuditDraft } from '../../lambdas/contracts/audit';
import { systemClock } from '../../lambdas/domain/ports';
import { appendAudit, queryAudit, verifyAudit, writeAuditDigest } from '../../lambdas/domain/use-cases/audit';

/** The audit store on dynalite alone (no local cloud): two instances with their own clients share one table. */

const TABLE = 'audit';
let server: { listen: (port: number, host: string, cb: () => void) => void; close: (cb: () => void) => void; address: () => AddressInfo };
let endpoint: string;
const client = () => new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
const signer = new LocalFileAuditSigner(join(mkdtempSync(join(tmpdir(), 'audit-key-')), 'audit.pem'));

beforeAll(async () => {
  server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${server.address().port}`;
  await client().send(
    new CreateTableCommand({
      TableName: TABLE,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: AUDIT_TABLE.partitionKey, KeyType: 'HASH' }, { AttributeName: AUDIT_TABLE.sortKey, KeyType: 'RANGE' }],
      AttributeDefinitions: [{ AttributeName: AUDIT_TABLE.partitionKey, AttributeType: 'S' }, { AttributeName: AUDIT_TABLE.sortKey, AttributeType: 'S' }],
    }),
  );
});
afterAll(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

const instance = () => {
  const dynamodb = client();
  return { store: new DynamoDbAuditStore(dynamodb, TABLE), digests: new DynamoDbAuditDigestStore(dynamodb, TABLE), clock: systemClock };
};
const draft = (tenantId: string, i: number): AuditDraft => ({
  tenantId, subject: `user-${i % 3}`, kind: 'tool', action: 'submit_task', decision: 'allow',
  argumentsHash: argumentsHash({ i }), outcome: { status: 'ok' }, requestId: `req-${i}`,
});

describe('DynamoDbAuditStore against dynalite', () => {
  it('concurrent appends from two instances keep one chain with no gap, and verify finds nothing', async () => {
    const [a, b] = [instance(), instance()];
    const appended = await Promise.all(Array.from({ length: 24 }, (_, i) => appendAudit(i % 2 ? a : b, draft('race', i))));
    expect(appended.map((e) => e.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    const stored = await a.store.list('race', { fromSeq: 1, limit: 100 });
    expect(stored.map((item) => item.seq)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    expect(new Set(stored.map((item) => item.entry?.requestId)).size).toBe(24);
    for (const [index, item] of stored.entries()) if (index) expect(item.entry?.prevHash).toBe(stored[index - 1]!.entry?.hash);
    expect((await verifyAudit({ ...a, verifier: signer }, { tenantId: 'race' })).findings).toEqual([]);
  });

  it('verify over the stored log reports an entry altered, one deleted and a garbled item, through the table itself', async () => {
    const writer = instance();
    for (let i = 0; i < 10; i++) await appendAudit(writer, draft('tampered', i));
    await writeAuditDigest({ ...writer, signer }, 'tampered', 1);
    const doc = DynamoDBDocumentClient.from(client());
    const key = (seq: number) => ({ [AUDIT_TABLE.partitionKey]: auditKeys.tenant('tampered'), [AUDIT_TABLE.sortKey]: auditKeys.seq(seq) });
    await doc.send(new UpdateCommand({ TableName: TABLE, Key: key(3), UpdateExpression: 'SET decision = :d', ExpressionAttributeValues: { ':d': 'deny' } }));
    await doc.send(new DeleteCommand({ TableName: TABLE, Key: key(6) }));
    await doc.send(new UpdateCommand({ TableName: TABLE, Key: key(8), UpdateExpression: 'SET seq = :s', ExpressionAttributeValues: { ':s': 'eight' } }));
    const report = await verifyAudit({ ...writer, verifier: signer }, { tenantId: 'tampered' });
    expect(report).toMatchObject({ entries: 9, digests: 1 });
    expect(report.findings.map(({ detail: _d, ...rest }) => rest)).toEqual([
      { kind: 'altered', seq: 3 },
      { kind: 'deleted', fromSeq: 6, toSeq: 6 },
      { kind: 'altered', seq: 8 },
    ]);
  });

  it('keeps digests beside the entries without mixing them up, and pages a query with a cursor', async () => {
    const writer = instance();
    for (let i = 0; i < 7; i++) await appendAudit(writer, draft('paged', i));
    const signed = await writeAuditDigest({ ...writer, signer }, 'paged', 1);
    expect(await writer.digests.list('paged', { fromSeq: 1 })).toEqual([signed]);
    expect((await writer.store.head('paged'))?.seq).toBe(7);
    const first = await queryAudit(writer, { tenantId: 'paged', subject: 'user-0', limit: 2 });
    expect(first.entries.map((e) => e.requestId)).toEqual(['req-0', 'req-3']);
    const second = await queryAudit(writer, { tenantId: 'paged', subject: 'user-0', limit: 2, cursor: first.nextCursor! });
    expect(second).toEqual({ entries: [expect.objectContaining({ requestId: 'req-6' })] });
    expect((await verifyAudit({ ...writer, verifier: signer }, { tenantId: 'paged', fromSeq: 3, toSeq: 7 })).findings).toEqual([]);
  });
});
