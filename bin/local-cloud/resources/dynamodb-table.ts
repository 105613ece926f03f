import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  ScanCommand,
  type AttributeValue,
  type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import { localArn, physicalName, propertiesOf, type ResourceHandler } from './resource-handler';

/**
 * `AWS::DynamoDB::Table` → a dynalite table with the template's keys and indexes (on demand; the
 * encryption, PITR and deletion protection settings mean nothing to the emulator). A table kept
 * in the data folder from an earlier run is reused; when the template has added an index since,
 * which dynalite cannot add to a table (UpdateTable), the table is rebuilt with it and its items
 * copied back, so an existing data folder keeps working. As on AWS after such a deploy, items
 * written before carry no value for a new sparse index until they are written again.
 */
export const dynamodbTable = {
  type: 'AWS::DynamoDB::Table',
  identity: (ctx, { stackName, id }) => {
    const name = physicalName(stackName, id);
    return { ref: name, attributes: { Arn: localArn(ctx, 'dynamodb', `table/${name}`) } };
  },
  phase: 'create',
  provision: async (ctx, tables) => {
    const dynamodb = new DynamoDBClient(ctx.aws.dynamodb ?? {});
    for (const table of tables) {
      const p = ctx.resolver.resolve(table.stackName, propertiesOf(table)) as Record<string, unknown>;
      const TableName = ctx.resolver.string(table.stackName, { Ref: table.id });
      const input = {
        TableName,
        AttributeDefinitions: p['AttributeDefinitions'],
        KeySchema: p['KeySchema'],
        BillingMode: 'PAY_PER_REQUEST',
        ...(p['GlobalSecondaryIndexes'] ? { GlobalSecondaryIndexes: p['GlobalSecondaryIndexes'] } : {}),
        ...(p['LocalSecondaryIndexes'] ? { LocalSecondaryIndexes: p['LocalSecondaryIndexes'] } : {}),
      } as CreateTableCommandInput;
      try {
        await dynamodb.send(new CreateTableCommand(input));
        ctx.log(`table ${TableName} created`);
      } catch (error) {
        if (!(error instanceof ResourceInUseException)) throw error;
        ctx.log(`table ${TableName} kept from the data folder`);
        type Index = { IndexName?: string; Projection?: { ProjectionType?: string; NonKeyAttributes?: string[] } };
        const projection = (index: Index | undefined) =>
          JSON.stringify([index?.Projection?.ProjectionType ?? 'KEYS_ONLY', [...(index?.Projection?.NonKeyAttributes ?? [])].sort()]);
        const wanted = (p['GlobalSecondaryIndexes'] ?? []) as Index[];
        const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName }));
        const existing = (Table?.GlobalSecondaryIndexes ?? []) as Index[];
        const stale = wanted.filter((index) => {
          const found = existing.find((e) => e.IndexName === index.IndexName);
          return !found || projection(found) !== projection(index);
        });
        if (stale.length) {
          const kept = await rebuild(dynamodb, input);
          ctx.log(`table ${TableName} from the data folder lacked index(es) ${stale.map((i) => i.IndexName).join(', ')} as the template has them: rebuilt, ${kept} item(s) kept`);
        }
      }
      ctx.platform.tables.push(TableName);
    }
  },
} satisfies ResourceHandler;

/** Copies every item out, recreates the table from `input`, and writes the items back. */
const rebuild = async (dynamodb: DynamoDBClient, input: CreateTableCommandInput): Promise<number> => {
  const items: Record<string, AttributeValue>[] = [];
  let ExclusiveStartKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamodb.send(new ScanCommand({ TableName: input.TableName, ConsistentRead: true, ...(ExclusiveStartKey ? { ExclusiveStartKey } : {}) }));
    items.push(...(page.Items ?? []));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  await dynamodb.send(new DeleteTableCommand({ TableName: input.TableName }));
  await dynamodb.send(new CreateTableCommand(input));
  for (let i = 0; i < items.length; i += 25) {
    let requests = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
    for (let round = 0; requests.length > 0; round += 1) {
      if (round >= 10) throw new Error(`table ${input.TableName}: items left unwritten while rebuilding it`);
      const { UnprocessedItems } = await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [input.TableName!]: requests } }));
      requests = (UnprocessedItems?.[input.TableName!] ?? []) as typeof requests;
    }
  }
  return items.length;
};
