import {
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectLockConfigurationCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOTO_CREDENTIALS, MOTO_SERVER, startMoto } from '../../bin/harness/moto';
import { InMemoryAuditDigestStore } from '../../bin/harness/in-memory';
import { digestObjectKey, S3AuditDigestStore } from '../../lambdas/adapters/s3-audit-digest-store';
import type { SignedAuditDigest } from '../../lambdas/contracts/audit';

/** The S3 Object Lock digest store against moto_server (from the image); skipped when moto_server is absent. */
if (!MOTO_SERVER) console.warn('audit-digest-s3.test.ts: moto_server not found on PATH; the S3 digest store test is skipped');

let moto: Awaited<ReturnType<typeof startMoto>> | undefined;
let s3: S3Client;
const bucket = 'audit-digests';
beforeAll(async () => {
  if (!MOTO_SERVER) return;
  moto = await startMoto();
  s3 = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', credentials: MOTO_CREDENTIALS, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
  await s3.send(
    new PutObjectLockConfigurationCommand({
      Bucket: bucket,
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 1 } } },
    }),
  );
}, 25_000);
afterAll(() => moto?.stop());

const signed = (toSeq: number): SignedAuditDigest => ({
  digest: { tenantId: 'acme', fromSeq: 1, toSeq, headHash: 'b'.repeat(64), time: '2026-11-26T10:00:00.000Z' },
  keyId: 'arn:aws:kms:us-east-1:123456789012:key/1234',
  signature: 'MEUCIQ==',
  algorithm: 'ECDSA_SHA_256',
});

describe.skipIf(!MOTO_SERVER)('S3AuditDigestStore against moto_server', () => {
  it('writes each digest to the Object Lock bucket under compliance retention, then to the index; a retry completes the index', async () => {
    const index = new InMemoryAuditDigestStore();
    const store = new S3AuditDigestStore(s3, bucket, index);
    await store.put(signed(7));
    expect(await store.lockedCopy('acme', 7)).toEqual(signed(7));
    expect(await store.latest('acme')).toEqual(signed(7));
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: digestObjectKey('acme', 7) }));
    expect(head.ObjectLockMode).toBe('COMPLIANCE');
    expect(head.ObjectLockRetainUntilDate!.getTime()).toBeGreaterThan(Date.now());
    // A locked version cannot be deleted.
    const { Versions } = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: digestObjectKey('acme', 7) }));
    await expect(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: digestObjectKey('acme', 7), VersionId: Versions![0]!.VersionId }))).rejects.toThrow();
    // The index write failed after the locked put: the retry keeps the object and completes the index.
    const retried = new S3AuditDigestStore(s3, bucket, new InMemoryAuditDigestStore());
    await retried.put(signed(7));
    expect(await retried.list('acme', { fromSeq: 1 })).toEqual([signed(7)]);
    expect(await store.lockedCopy('acme', 8)).toBeUndefined();
  });
});
