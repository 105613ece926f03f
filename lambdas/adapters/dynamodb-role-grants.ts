import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { grantKeys, TASKS_TABLE, TASKS_TABLE_TTL_ATTRIBUTE } from '../contracts';
import { ValidationError } from '../domain/errors';
import type { RevokeOutcome, RoleGrantPage, RoleGrantQuery, RoleGrants } from '../domain/ports';
import type { Role } from '../domain/principal';
import { expiresAtOf, GrantableRoleSchema, RoleGrantSchema, type RoleGrant } from '../domain/role-grants';

const { partitionKey: PK, sortKey: SK } = TASKS_TABLE;

/**
 * Role grants as items in the tenant's partition of the tasks table (contracts grantKeys): no index
 * keys, so no index rows, and under the tenant-scoped IAM policy (LeadingKeys TENANT#<tenant>).
 * Each write is one conditional single-item write (no transactions): a grant is put only where no
 * item is, a revoke applies only to a grant active at that instant. `expiresAt` lets DynamoDB's time
 * to live delete a grant GRANT_HISTORY_DAYS after it ended.
 */
export class DynamoDbRoleGrants implements RoleGrants {
  private readonly doc: DynamoDBDocumentClient;

  constructor(client: DynamoDBClient, private readonly tableName: string) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  private key(tenantId: string, grantId: string) {
    return { [PK]: grantKeys.tenant(tenantId), [SK]: grantKeys.grant(grantId) };
  }

  async grant(grant: RoleGrant): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...this.key(grant.tenantId, grant.grantId), ...grant, [TASKS_TABLE_TTL_ATTRIBUTE]: expiresAtOf(grant) },
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': PK },
      }),
    );
  }

  async revoke(tenantId: string, grantId: string, revokedBy: string, now: Date): Promise<RevokeOutcome> {
    const revokedAt = now.toISOString();
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(tenantId, grantId),
          UpdateExpression: 'SET revokedAt = :at, revokedBy = :by, #ttl = :ttl',
          ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(revokedAt) AND #until > :at',
          ExpressionAttributeNames: { '#pk': PK, '#until': 'until', '#ttl': TASKS_TABLE_TTL_ATTRIBUTE },
          ExpressionAttributeValues: { ':at': revokedAt, ':by': revokedBy, ':ttl': expiresAtOf({ until: revokedAt, revokedAt }) },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { grant: toGrant(Attributes!), revoked: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    const { Item } = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: this.key(tenantId, grantId), ConsistentRead: true }));
    return Item ? { grant: toGrant(Item), revoked: false } : undefined;
  }

  async list(tenantId: string, query: RoleGrantQuery): Promise<RoleGrantPage> {
    const prefix = query.subject !== undefined ? grantKeys.subject(query.subject) : grantKeys.all;
    const { Items = [], LastEvaluatedKey } = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
        ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
        ExpressionAttributeValues: { ':pk': grantKeys.tenant(tenantId), ':prefix': prefix },
        Limit: query.limit,
        ...(query.cursor !== undefined ? { ExclusiveStartKey: { [PK]: grantKeys.tenant(tenantId), [SK]: decodeCursor(query.cursor, prefix) } } : {}),
      }),
    );
    return {
      grants: Items.map(toGrant),
      ...(LastEvaluatedKey ? { nextCursor: Buffer.from(String(LastEvaluatedKey[SK])).toString('base64url') } : {}),
    };
  }

  async active(tenantId: string, subject: string, now: Date): Promise<Role[]> {
    const roles = new Set<Role>();
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
          FilterExpression: '#until > :now AND attribute_not_exists(revokedAt)',
          ProjectionExpression: '#role',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK, '#until': 'until', '#role': 'role' },
          ExpressionAttributeValues: { ':pk': grantKeys.tenant(tenantId), ':prefix': grantKeys.subject(subject), ':now': now.toISOString() },
          ExclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const role = GrantableRoleSchema.safeParse(item.role);
        if (role.success) roles.add(role.data);
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return [...roles];
  }
}

const toGrant = (item: Record<string, unknown>): RoleGrant => {
  const { [PK]: _pk, [SK]: _sk, [TASKS_TABLE_TTL_ATTRIBUTE]: _ttl, ...grant } = item;
  return RoleGrantSchema.parse(grant);
};

/** A cursor is the last key's sort key: good only within the listing (tenant, and subject or all) that produced it. */
const decodeCursor = (cursor: string, prefix: string): string => {
  const sk = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!sk.startsWith(prefix) || sk.length > 1024) throw new ValidationError('invalid cursor');
  return sk;
};
