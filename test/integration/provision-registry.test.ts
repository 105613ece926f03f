import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ListTablesCommand, PutItemCommand, ScanCommand, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulators, type Emulators } from '../../bin/local-cloud/emulators';
import { provision } from '../../bin/local-cloud/provision';
import { NOT_NEEDED_LOCALLY, RESOURCE_HANDLERS } from '../../bin/local-cloud/resources/registry';
import { readProjectConfig, synthesizeTemplates, type SynthesizedStack } from '../../bin/local-cloud/synth';

const config = readProjectConfig();
let stacks: SynthesizedStack[];
let emulators: Emulators;

beforeAll(async () => {
  // With the optional resources on (cdk.json has auth.cognito; the Verified Permissions copy and alarm emails are off by default).
  stacks = synthesizeTemplates({ ...config, verifiedPermissions: true, alarms: { ...config.alarms, emails: ['ops@example.com'] } });
  emulators = await startEmulators({ region: config.primaryRegion });
});
afterAll(() => emulators?.stop());

const typesOf = (templates: readonly SynthesizedStack[]) =>
  new Set(templates.flatMap(({ template }) => Object.values(template.Resources).map((r) => r.Type)));

describe('the local cloud\'s resource registry', () => {
  it('refuses a resource type it cannot run, by type, stack and logical id, before touching the emulators', async () => {
    const withTopic = stacks.map((stack) =>
      stack.stackName === 'Switchboard-Messaging'
        ? { ...stack, template: { ...stack.template, Resources: { ...stack.template.Resources, AlertsTopic: { Type: 'AWS::AppSync::GraphQLApi' } } } }
        : stack,
    );

    const provisioning = provision(withTopic, emulators.aws, config.primaryRegion, () => undefined);

    await expect(provisioning).rejects.toThrow(
      'local cloud: Switchboard-Messaging/AlertsTopic has type AWS::AppSync::GraphQLApi, which npm start cannot run',
    );
    const { TableNames } = await new DynamoDBClient(emulators.aws.dynamodb!).send(new ListTablesCommand({}));
    const { QueueUrls } = await new SQSClient(emulators.aws.sqs!).send(new ListQueuesCommand({}));
    expect({ tables: TableNames ?? [], queues: QueueUrls ?? [] }).toEqual({ tables: [], queues: [] });
  });

  it('handles, or lists as not needed, every type the synthesized templates contain', () => {
    const unaccounted = [...typesOf(stacks)].filter((type) => !RESOURCE_HANDLERS.has(type) && !(type in NOT_NEEDED_LOCALLY));

    expect(unaccounted).toEqual([]);
  });

  it('lists as not needed only types the templates contain, none also handled, each with a reason', () => {
    const types = typesOf(stacks);

    for (const [type, reason] of Object.entries(NOT_NEEDED_LOCALLY)) {
      expect({ type, inTemplates: types.has(type), handled: RESOURCE_HANDLERS.has(type) }).toEqual({ type, inTemplates: true, handled: false });
      expect(reason.length, type).toBeGreaterThan(20);
    }
  });
});

describe('a tasks table kept from an older data folder', () => {
  it('is rebuilt with the indexes the template added or re-projected since, keeping every item', async () => {
    const dynamodb = new DynamoDBClient(emulators.aws.dynamodb!);
    const stateful = stacks.find((s) => s.stackName === 'Switchboard-Stateful')!;
    const [id, table] = Object.entries(stateful.template.Resources).find(([, r]) => r.Type === 'AWS::DynamoDB::Table')!;
    const props = table.Properties as { AttributeDefinitions: { AttributeName: string }[]; KeySchema: unknown; GlobalSecondaryIndexes: { IndexName: string; KeySchema: { AttributeName: string }[] }[] };
    const [kept, ...added] = props.GlobalSecondaryIndexes;
    const used = new Set([...(props.KeySchema as { AttributeName: string }[]), ...kept!.KeySchema].map((k) => k.AttributeName));
    // The table as an older version of the app made it: one index only, projecting everything.
    const TableName = `Switchboard-Stateful-${id}`;
    await dynamodb.send(new CreateTableCommand({
      TableName,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: props.KeySchema,
      AttributeDefinitions: props.AttributeDefinitions.filter((a) => used.has(a.AttributeName)),
      GlobalSecondaryIndexes: [{ ...kept, Projection: { ProjectionType: 'ALL' } }],
    } as CreateTableCommandInput));
    for (const n of [1, 2, 3]) {
      await dynamodb.send(new PutItemCommand({ TableName, Item: { pk: { S: 'TENANT#old' }, sk: { S: `TASK#${n}` }, payload: { S: `item ${n}` } } }));
    }
    const log: string[] = [];

    await provision(stacks, emulators.aws, config.primaryRegion, (line) => log.push(line));

    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName }));
    expect((Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName).sort()).toEqual(props.GlobalSecondaryIndexes.map((i) => i.IndexName).sort());
    expect(Table?.GlobalSecondaryIndexes?.find((i) => i.IndexName === kept!.IndexName)?.Projection?.ProjectionType).toBe('KEYS_ONLY');
    const { Items = [] } = await dynamodb.send(new ScanCommand({ TableName }));
    expect(Items.map((i) => i['payload']?.S).sort()).toEqual(['item 1', 'item 2', 'item 3']);
    expect(log).toContain(`table ${TableName} from the data folder lacked index(es) ${[kept!, ...added].map((i) => i.IndexName).join(', ')} as the template has them: rebuilt, 3 item(s) kept`);
  });
});
