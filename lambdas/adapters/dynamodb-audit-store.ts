import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { AUDIT_TABLE, AUDIT_TENANTS_PK, auditKeys, AuditEntrySchema, GENESIS_HASH, SignedAuditDigestSchema, type AuditEntry, type SignedAuditDigest } from '../contracts/audit';
import type { AuditDigestStore, AuditHead, AuditStore, StoredAuditItem } from '../domain/audit';
import { ConcurrencyError } from '../domain/errors';

const { partitionKey: PK, sortKey: SK } = AUDIT_TABLE;

const toItem = ({ [PK]: _pk, [SK]: _sk, ...rest }: Record<string, unknown>) => rest;

/** Pages through one tenant's items whose sort key is in [from, to], in order, until `enough` says stop. */
const queryRange = async (
  doc: DynamoDBDocumentClient,
  tableName: string,
  range: { tenantId: string; from: string; to: string; limit?: number },
  take: (raw: Record<string, unknown>) => void,
  enough: () => boolean,
): Promise<void> => {
  let start: Record<string, unknown> | undefined;
  let read = 0;
  do {
    const page = await doc.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
        ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
        ExpressionAttributeValues: { ':pk': auditKeys.tenant(range.tenantId), ':from': range.from, ':to': range.to },
        ...(range.limit !== undefined ? { Limit: range.limit - read } : {}),
        ConsistentRead: true,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    for (const raw of page.Items ?? []) {
      read++;
      take(raw);
    }
    start = page.LastEvaluatedKey;
  } while (start && !enough());
};

/** The tenant's item with the highest sort key starting with `prefix` (a consistent read), if any. */
const newest = async (doc: DynamoDBDocumentClient, tableName: string, tenantId: string, prefix: string): Promise<Record<string, unknown> | undefined> => {
  const { Items } = await doc.send(
    new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
      ExpressionAttributeValues: { ':pk': auditKeys.tenant(tenantId), ':prefix': prefix },
      ScanIndexForward: false,
      Limit: 1,
      ConsistentRead: true,
    }),
  );
  return Items?.[0];
};

/**
 * The audit log in its own table (lambdas/contracts/audit.ts): one item per entry, pk AUDIT#<tenant>,
 * sk SEQ#<seq>, the entry's fields as attributes. Appending is one PutItem conditional on
 * attribute_not_exists(sk): the loser of a race gets ConcurrencyError and re-reads the head. Never an
 * update or a delete (the writer's IAM grant has neither).
 */
export class DynamoDbAuditStore implements AuditStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(client: DynamoDBClient, private readonly tableName: string) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async head(tenantId: string): Promise<AuditHead | undefined> {
    const item = await newest(this.doc, this.tableName, tenantId, auditKeys.seqPrefix);
    const seq = item ? auditKeys.seqOf(String(item[SK])) : undefined;
    if (!item || seq === undefined) return undefined;
    const parsed = AuditEntrySchema.safeParse(toItem(item));
    return { seq, hash: parsed.success ? parsed.data.hash : GENESIS_HASH };
  }

  async append(entry: AuditEntry): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { [PK]: auditKeys.tenant(entry.tenantId), [SK]: auditKeys.seq(entry.seq), ...entry },
          ConditionExpression: 'attribute_not_exists(#sk)',
          ExpressionAttributeNames: { '#sk': SK },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new ConcurrencyError(`audit seq ${entry.seq} is taken`);
      throw error;
    }
  }

  async list(tenantId: string, range: { fromSeq: number; toSeq?: number; limit: number }): Promise<StoredAuditItem[]> {
    const items: StoredAuditItem[] = [];
    const to = range.toSeq === undefined ? `${auditKeys.seqPrefix}~` : auditKeys.seq(range.toSeq);
    await queryRange(this.doc, this.tableName, { tenantId, from: auditKeys.seq(range.fromSeq), to, limit: range.limit }, (raw) => {
      const seq = auditKeys.seqOf(String(raw[SK]));
      if (seq === undefined) return;
      const parsed = AuditEntrySchema.safeParse(toItem(raw));
      items.push({ seq, entry: parsed.success ? parsed.data : undefined });
    }, () => items.length >= range.limit);
    return items;
  }

  async registerTenant(tenantId: string): Promise<void> {
    // A plain put of a constant item: writing it twice is harmless (the writer has no UpdateItem).
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { [PK]: AUDIT_TENANTS_PK, [SK]: tenantId } }));
  }

  async tenants(): Promise<string[]> {
    const tenants: string[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': PK },
          ExpressionAttributeValues: { ':pk': AUDIT_TENANTS_PK },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of page.Items ?? []) tenants.push(String(item[SK]));
      start = page.LastEvaluatedKey;
    } while (start);
    return tenants;
  }
}

/**
 * Signed digests in the audit table (sk DIGEST#<toSeq>), written once each. Locally this is where
 * digests live; on AWS they go to the S3 Object Lock bucket (compliance mode), an adapter of the same port.
 */
export class DynamoDbAuditDigestStore implements AuditDigestStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(client: DynamoDBClient, private readonly tableName: string) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  async put(signed: SignedAuditDigest): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { [PK]: auditKeys.tenant(signed.digest.tenantId), [SK]: auditKeys.digest(signed.digest.toSeq), signed: JSON.stringify(signed) },
          ConditionExpression: 'attribute_not_exists(#sk)',
          ExpressionAttributeNames: { '#sk': SK },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new ConcurrencyError(`a digest up to seq ${signed.digest.toSeq} exists`);
      throw error;
    }
  }

  async list(tenantId: string, range: { fromSeq: number; toSeq?: number }): Promise<SignedAuditDigest[]> {
    const digests: SignedAuditDigest[] = [];
    const to = range.toSeq === undefined ? `${auditKeys.digestPrefix}~` : auditKeys.digest(range.toSeq);
    await queryRange(this.doc, this.tableName, { tenantId, from: auditKeys.digest(range.fromSeq), to }, (raw) => {
      let json: unknown;
      try {
        json = JSON.parse(String(raw.signed));
      } catch {
        json = undefined;
      }
      const parsed = SignedAuditDigestSchema.safeParse(json);
      // An unreadable digest is kept as one whose signature cannot verify, so verify reports it.
      digests.push(parsed.success ? parsed.data : unreadableDigest(tenantId, auditKeys.seqOf(String(raw[SK]).replace('DIGEST#', 'SEQ#')) ?? 1));
    }, () => false);
    return digests;
  }

  async latest(tenantId: string): Promise<SignedAuditDigest | undefined> {
    const raw = await newest(this.doc, this.tableName, tenantId, auditKeys.digestPrefix);
    if (!raw) return undefined;
    const toSeq = auditKeys.seqOf(String(raw[SK]).replace(auditKeys.digestPrefix, auditKeys.seqPrefix)) ?? 1;
    return (await this.list(tenantId, { fromSeq: toSeq, toSeq }))[0];
  }
}

const unreadableDigest = (tenantId: string, toSeq: number): SignedAuditDigest => ({
  digest: { tenantId, fromSeq: toSeq, toSeq, headHash: '0'.repeat(64), time: new Date(0).toISOString() },
  keyId: 'unreadable',
  signature: 'unreadable',
  algorithm: 'ECDSA_SHA_256',
});
