import { GetObjectCommand, PutObjectCommand, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import { AUDIT_SEQ_DIGITS, canonicalJson, SignedAuditDigestSchema, type SignedAuditDigest } from '../contracts/audit';
import type { AuditDigestStore } from '../domain/audit';

/** The object key of a tenant's digest up to `toSeq`: `digests/<tenant>/<toSeq, 12 digits>.json` (lexical = seq order). */
export const digestObjectKey = (tenantId: string, toSeq: number): string => `digests/${tenantId}/${String(toSeq).padStart(AUDIT_SEQ_DIGITS, '0')}.json`;

/**
 * Signed digests on AWS: each written to the audit digest bucket (S3 Object Lock, compliance mode:
 * nobody, root included, can delete or overwrite it before its retention ends), then to the index
 * (the audit table's DIGEST# items), which verify, the reconciler and the CLI read. S3 first: a
 * digest in the index always has its locked copy. Writing one twice is harmless: a put of an object
 * that exists is refused by S3 (If-None-Match) and the index is completed.
 */
export class S3AuditDigestStore implements AuditDigestStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly index: AuditDigestStore,
  ) {}

  async put(signed: SignedAuditDigest): Promise<void> {
    const body = canonicalJson(signed);
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: digestObjectKey(signed.digest.tenantId, signed.digest.toSeq),
          Body: body,
          ContentType: 'application/json',
          // Object Lock buckets require an integrity checksum on every put.
          ChecksumAlgorithm: 'SHA256',
          IfNoneMatch: '*',
        }),
      );
    } catch (error) {
      // 412: this digest's object exists already (a retry after the index write failed): keep it.
      if (!(error instanceof S3ServiceException && error.$metadata.httpStatusCode === 412)) throw error;
    }
    await this.index.put(signed);
  }

  list(tenantId: string, range: { fromSeq: number; toSeq?: number }): Promise<SignedAuditDigest[]> {
    return this.index.list(tenantId, range);
  }

  latest(tenantId: string): Promise<SignedAuditDigest | undefined> {
    return this.index.latest(tenantId);
  }

  /** The locked copy of a digest (what an auditor compares the index with), or undefined when there is none. */
  async lockedCopy(tenantId: string, toSeq: number): Promise<SignedAuditDigest | undefined> {
    try {
      const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: digestObjectKey(tenantId, toSeq) }));
      const parsed = SignedAuditDigestSchema.safeParse(JSON.parse(await object.Body!.transformToString()));
      return parsed.success ? parsed.data : undefined;
    } catch (error) {
      if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) return undefined;
      throw error;
    }
  }
}
