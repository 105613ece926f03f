import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, PutItemCommand, ScanCommand, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulators, type Emulators } from '../../bin/local-cloud/emulators';
import { provision } from '../../bin/local-cloud/provision';
import { readProjectConfig, synthesizeTemplates, type SynthesizedStack } from '../../bin/local-cloud/synth';

const config = readProjectConfig();
let stacks: SynthesizedStack[];
let emulators: Emulators;

beforeAll(async () => {
  stacks = synthesizeTemplates(config);
  emulators = await startEmulators({ region: config.primaryRegion });
});
afterAll(() => emulators?.stop());

describe('a tasks table kept from an older data folder', () => {
  it('is rebuilt with the indexes the template added since, keeping every item', async () => {
    const dynamodb = new DynamoDBClient(emulators.aws.dynamodb!);
    const stateful = stacks.find((s) => s.stackName === 'Switchboard-Stateful')!;
    const [id, table] = Object.entries(stateful.template.Resources).find(([, r]) => r.Type === 'AWS::DynamoDB::Table')!;
    const props = table.Properties as { AttributeDefinitions: { AttributeName: string }[]; KeySchema: unknown; GlobalSecondaryIndexes: { IndexName: string; KeySchema: { AttributeName: string }[] }[] };
    const [kept, ...added] = props.GlobalSecondaryIndexes;
    const used = new Set([...(props.KeySchema as { AttributeName: string }[]), ...kept!.KeySchema].map((k) => k.AttributeName));
    // The table as an older version of the app made it: one index only.
    const TableName = `Switchboard-Stateful-${id}`;
    await dynamodb.send(new CreateTableCommand({
      TableName,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: props.KeySchema,
      AttributeDefinitions: props.AttributeDefinitions.filter((a) => used.has(a.AttributeName)),
      GlobalSecondaryIndexes: [kept],
    } as CreateTableCommandInput));
    for (const n of [1, 2, 3]) {
      await dynamodb.send(new PutItemCommand({ TableName, Item: { pk: { S: 'TENANT#old' }, sk: { S: `TASK#${n}` }, payload: { S: `item ${n}` } } }));
    }
    const log: string[] = [];

    await provision(stacks, emulators.aws, config.primaryRegion, (line) => log.push(line));

    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName }));
    expect((Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName).sort()).toEqual(props.GlobalSecondaryIndexes.map((i) => i.IndexName).sort());
    const { Items = [] } = await dynamodb.send(new ScanCommand({ TableName }));
    expect(Items.map((i) => i['payload']?.S).sort()).toEqual(['item 1', 'item 2', 'item 3']);
    expect(log).toContain(`table ${TableName} from the data folder lacked index(es) ${added.map((i) => i.IndexName).join(', ')}: rebuilt with them, 3 item(s) kept`);
  });
});
