import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import { localArn, physicalName, propertiesOf, type ResourceHandler } from './resource-handler';

/**
 * `AWS::DynamoDB::Table` → a dynalite table with the template's keys and indexes (on demand; the
 * encryption, PITR and deletion protection settings mean nothing to the emulator). A table kept
 * in the data folder from an earlier run is reused as it is; dynalite cannot add an index to it, so
 * an index the template added since is named in the log (what reads it fails until a fresh data folder).
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
        const wanted = ((p['GlobalSecondaryIndexes'] ?? []) as { IndexName: string }[]).map((index) => index.IndexName);
        const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName }));
        const missing = wanted.filter((name) => !(Table?.GlobalSecondaryIndexes ?? []).some((index) => index.IndexName === name));
        if (missing.length) ctx.log(`table ${TableName} from the data folder lacks index(es) ${missing.join(', ')}: start with a fresh --data-dir to use them`);
      }
      ctx.platform.tables.push(TableName);
    }
  },
} satisfies ResourceHandler;
