import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { S3AuditDigestStore } from './s3-audit-digest-store';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { ENV } from '../contracts';
import type { AuditDigestStore, AuditSigner, AuditVerifier } from '../domain/audit';
import { AuditedTaskRepository } from '../domain/audited-tasks';
import { systemClock, type Logger, type TaskRepository } from '../domain/ports';
import { KmsAuditSigner } from './audit-signer-kms';
import { LocalFileAuditSigner } from './audit-signer-local';
import { DynamoDbAuditDigestStore, DynamoDbAuditStore } from './dynamodb-audit-store';
import { dynamoDbClient, traced, type AwsClientConfig } from './runtime';

/** The audit log's adapters, for the composition roots (docs/audit.md). */

export const auditStore = (tableName: string, aws: AwsClientConfig, tracer?: Tracer) => new DynamoDbAuditStore(dynamoDbClient(aws, tracer), tableName);

/**
 * Where digests are kept: the audit table's DIGEST# items (the index verify reads) and, on AWS
 * (AUDIT_DIGEST_BUCKET), first the S3 Object Lock bucket.
 */
export const auditDigestStore = (
  tableName: string,
  aws: AwsClientConfig & { s3?: S3ClientConfig },
  tracer?: Tracer,
  bucket?: string,
): AuditDigestStore => {
  const index = new DynamoDbAuditDigestStore(dynamoDbClient(aws, tracer), tableName);
  return bucket ? new S3AuditDigestStore(traced(new S3Client(aws.s3 ?? {}), tracer), bucket, index) : index;
};

/**
 * The digest signing key: the local key file when AUDIT_SIGNING_KEY_FILE is set (npm start, LOCAL
 * ONLY), else the asymmetric KMS key of AUDIT_SIGNING_KEY_ARN; undefined when neither is set (then
 * no digest is signed, and verify checks the chain alone).
 */
export const auditSigning = (
  env: { [ENV.auditSigningKeyFile]?: string | undefined; [ENV.auditSigningKeyArn]?: string | undefined },
  aws: AwsClientConfig & { kms?: ConstructorParameters<typeof KMSClient>[0] },
  tracer?: Tracer,
): (AuditSigner & AuditVerifier) | undefined => {
  const file = env[ENV.auditSigningKeyFile];
  if (file) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    try {
      return new LocalFileAuditSigner(file);
    } catch (error) {
      // Another local function created the file between the check and the write: read it.
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return new LocalFileAuditSigner(file);
      throw error;
    }
  }
  const arn = env[ENV.auditSigningKeyArn];
  return arn ? new KmsAuditSigner(traced(new KMSClient(aws.kms ?? {}), tracer), arn) : undefined;
};

/** A verifier that trusts no key: every digest is reported as not verifying (when no signing key is configured). */
export const noTrustedKey: AuditVerifier = { verify: async () => false };

/** `tasks` with its transitions recorded in the tenants' audit logs, as `actor` (AuditedTaskRepository). */
export const auditedTasks = (tasks: TaskRepository, auditTable: string, actor: string, logger: Logger, aws: AwsClientConfig, tracer?: Tracer): TaskRepository =>
  new AuditedTaskRepository(tasks, { store: auditStore(auditTable, aws, tracer), clock: systemClock, logger }, actor);
