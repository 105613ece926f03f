import {
  CreateTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import { localArn, physicalName, propertiesOf, type ResourceHandler } from './resource-handler';

/**
 * `AWS::DynamoDB::Table` → a dynalite table with the template's keys and indexes (on demand; the
 * encryption, PITR and deletion protection settings mean nothing to the emulator). A table kept
 * in the data folder from an earlier run is reused as it is.
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
      }
      ctx.platform.tables.push(TableName);
    }
  },
} satisfies ResourceHandler;
