import { CreateTableCommand, DynamoDBClient, GetItemCommand, type AttributeValue, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DeleteCommand, DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { dynamoDbClient, sqsClient, type AwsClientConfig } from '../../lambdas/adapters/runtime';
import {
  CostMeter,
  difference,
  indexKind,
  indexWriteUnits,
  itemSize,
  PLATFORM_CALLER,
  tableSchemasOf,
  type TableSchema,
} from '../../bin/local-cloud/cost-meter';
import { startEmulators } from '../../bin/local-cloud/emulators';
import type { SynthesizedStack } from '../../bin/local-cloud/synth';

const client = { region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, endpoint: 'http://127.0.0.1:9' };
const sqsConfig = { ...client, md5: false as const }; // the stub's answers carry no body checksums

/** Answers every request of `sdk` with `output` before it reaches the network, and keeps the inputs it saw. */
const stubbed = <T extends { middlewareStack: { add(...args: never[]): void } }>(sdk: T, output: (input: Record<string, unknown>) => object) => {
  const inputs: Record<string, unknown>[] = [];
  const stub = () => async (args: { input: Record<string, unknown> }) => {
    inputs.push(args.input);
    return { output: { $metadata: {}, ...output(args.input) }, response: {} };
  };
  (sdk.middlewareStack.add as (m: unknown, o: unknown) => void)(stub, { step: 'finalizeRequest', priority: 'high' });
  return { sdk, inputs };
};

describe('CostMeter', () => {
  it('counts SDK requests by caller, service and operation through the client factories, and the capacity DynamoDB reports', async () => {
    const meter = new CostMeter();
    const aws: AwsClientConfig = { sqs: sqsConfig, dynamodb: client, plugins: [meter.sdkPlugin] };
    const sqs = stubbed(sqsClient(aws), (input) => ('MaxNumberOfMessages' in input ? { Messages: [] } : { MessageId: '1' }));
    const dynamodb = stubbed(dynamoDbClient(aws), () => ({ ConsumedCapacity: { TableName: 't', CapacityUnits: 1 } }));
    const before = meter.snapshot();

    await meter.invocation('gateway', 1024, async () => {
      await sqs.sdk.send(new SendMessageCommand({ QueueUrl: 'q', MessageBody: 'a' }));
      await sqs.sdk.send(new SendMessageCommand({ QueueUrl: 'q', MessageBody: 'b' }));
      await dynamodb.sdk.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: '1' } } }));
    });
    await sqs.sdk.send(new ReceiveMessageCommand({ QueueUrl: 'q', MaxNumberOfMessages: 10 }));
    meter.apiRequest();

    const reading = difference(meter.snapshot(), before);
    expect(reading.requests).toEqual({
      'gateway SQS SendMessage': 2,
      'gateway DynamoDB GetItem': 1,
      [`${PLATFORM_CALLER} SQS ReceiveMessage (empty)`]: 1,
    });
    expect(reading.capacity).toEqual({ 'gateway DynamoDB GetItem': 1 });
    expect(dynamodb.inputs[0]).toMatchObject({ ReturnConsumedCapacity: 'TOTAL' });
    expect(reading.invocations['gateway']).toMatchObject({ count: 1, memoryMb: 1024 });
    expect(reading.apiRequests).toBe(1);
  });

  it('leaves clients built without the plugin uncounted', async () => {
    const meter = new CostMeter();
    const sqs = stubbed(sqsClient({ sqs: sqsConfig }), () => ({ MessageId: '1' }));

    await sqs.sdk.send(new SendMessageCommand({ QueueUrl: 'q', MessageBody: 'a' }));

    expect(meter.snapshot().requests).toEqual({});
  });
});

/** A table as a template declares it: three indexes on the same keys, one per projection type. */
const tableProperties = {
  AttributeDefinitions: ['pk', 'sk', 'gpk', 'gsk'].map((AttributeName) => ({ AttributeName, AttributeType: 'S' })),
  KeySchema: [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ],
  BillingMode: 'PAY_PER_REQUEST',
  GlobalSecondaryIndexes: [
    ['everything', { ProjectionType: 'ALL' }],
    ['keys', { ProjectionType: 'KEYS_ONLY' }],
    ['status', { ProjectionType: 'INCLUDE', NonKeyAttributes: ['status'] }],
  ].map(([IndexName, Projection]) => ({
    IndexName,
    KeySchema: [
      { AttributeName: 'gpk', KeyType: 'HASH' },
      { AttributeName: 'gsk', KeyType: 'RANGE' },
    ],
    Projection,
  })),
};
const stacks: SynthesizedStack[] = [
  { stackName: 'Test', template: { Resources: { Tasks: { Type: 'AWS::DynamoDB::Table', Properties: tableProperties }, Queue: { Type: 'AWS::SQS::Queue' } } } },
];

describe('index write units', () => {
  const table: TableSchema = tableSchemasOf(stacks).get('Test-Tasks')!;
  const s = (S: string): AttributeValue => ({ S });
  const base = { pk: s('t1'), sk: s('task'), status: s('queued'), other: s('x') };
  const indexed = { ...base, gpk: s('tenant'), gsk: s('queued#1') };

  it('reads the key schema and the indexes from the template, by physical name', () => {
    expect([...tableSchemasOf(stacks).keys()]).toEqual(['Test-Tasks']);
    expect(table).toEqual({
      keys: ['pk', 'sk'],
      indexes: [
        { name: 'everything', keys: ['gpk', 'gsk'], projection: 'ALL', nonKeyAttributes: [] },
        { name: 'keys', keys: ['gpk', 'gsk'], projection: 'KEYS_ONLY', nonKeyAttributes: [] },
        { name: 'status', keys: ['gpk', 'gsk'], projection: 'INCLUDE', nonKeyAttributes: ['status'] },
      ],
    });
  });

  it('an item entering an index is one put there, leaving it one delete, and an item in none costs nothing', () => {
    expect(indexWriteUnits(undefined, indexed, table)).toEqual({ everything: 1, keys: 1, status: 1 });
    expect(indexWriteUnits(base, indexed, table)).toEqual({ everything: 1, keys: 1, status: 1 });
    expect(indexWriteUnits(indexed, base, table)).toEqual({ everything: 1, keys: 1, status: 1 });
    expect(indexWriteUnits(indexed, undefined, table)).toEqual({ everything: 1, keys: 1, status: 1 });
    expect(indexWriteUnits(undefined, base, table)).toEqual({ everything: 0, keys: 0, status: 0 });
    expect(indexWriteUnits(base, { ...base, status: s('done') }, table)).toEqual({ everything: 0, keys: 0, status: 0 });
    const { gsk: _, ...halfKeyed } = indexed; // an index with a sort key holds only items with both keys
    expect(indexWriteUnits(undefined, halfKeyed, table)).toEqual({ everything: 0, keys: 0, status: 0 });
  });

  it('an index key change is a delete and a put, whatever the projection', () => {
    expect(indexWriteUnits(indexed, { ...indexed, gsk: s('running#1') }, table)).toEqual({ everything: 2, keys: 2, status: 2 });
  });

  it('a change of other attributes is one update where they are projected: any for ALL, none for KEYS_ONLY, the listed ones for INCLUDE', () => {
    expect(indexWriteUnits(indexed, { ...indexed, status: s('running') }, table)).toEqual({ everything: 1, keys: 0, status: 1 });
    expect(indexWriteUnits(indexed, { ...indexed, other: s('y') }, table)).toEqual({ everything: 1, keys: 0, status: 0 });
    expect(indexWriteUnits(indexed, { ...indexed, added: s('z') }, table)).toEqual({ everything: 1, keys: 0, status: 0 });
    expect(indexWriteUnits(indexed, { ...indexed }, table)).toEqual({ everything: 0, keys: 0, status: 0 });
    const withSet = { ...indexed, tags: { SS: ['a', 'b'] } };
    expect(indexWriteUnits(withSet, { ...indexed, tags: { SS: ['b', 'a'] } }, table)).toEqual({ everything: 0, keys: 0, status: 0 });
  });

  it('each write is sized by its projected entry, by the KB', () => {
    const big = { ...indexed, output: s('x'.repeat(1900)) }; // 1,954 bytes in all: 2 units
    expect(indexWriteUnits(undefined, big, table)).toEqual({ everything: 2, keys: 1, status: 1 });
    expect(indexWriteUnits(big, { ...big, gsk: s('running#1') }, table)).toEqual({ everything: 4, keys: 2, status: 2 });
    expect(indexWriteUnits(big, base, table)).toEqual({ everything: 2, keys: 1, status: 1 });
    // names and values: 'pk'+'abc', 'n'+12345 (3 bytes for 5 digits + 1), 'b'+true, 'm'+{k:'v'} (3 + 1 + 1 + 1)
    expect(itemSize({ pk: s('abc'), n: { N: '-123.450' }, b: { BOOL: true }, m: { M: { k: s('v') } } })).toBe(5 + 5 + 2 + 7);
  });
});

describe('CostMeter on dynalite', () => {
  it('counts the index write units of each write from the items before and after it, and not its own reads', async () => {
    const emulators = await startEmulators({ region: 'us-east-1' });
    try {
      const meter = new CostMeter();
      const raw = new DynamoDBClient(emulators.aws.dynamodb!);
      await raw.send(new CreateTableCommand({ TableName: 'Test-Tasks', ...tableProperties } as CreateTableCommandInput));
      meter.describeTables(tableSchemasOf(stacks), emulators.aws.dynamodb!);
      const documents = DynamoDBDocumentClient.from(dynamoDbClient({ dynamodb: emulators.aws.dynamodb!, plugins: [meter.sdkPlugin] }));
      const TableName = 'Test-Tasks';
      const Key = { pk: 't1', sk: 'task' };

      const units = async (write: () => Promise<unknown>) => {
        const before = meter.snapshot();
        await meter.invocation('worker', 1024, write).catch((error: unknown) => {
          if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
        });
        return difference(meter.snapshot(), before);
      };

      const put = await units(() => documents.send(new PutCommand({ TableName, Item: { ...Key, gpk: 'tenant', gsk: 'queued#1', status: 'queued' } })));
      expect(put.requests).toEqual({ 'worker DynamoDB PutItem': 1 }); // the meter's GetItems are its own
      expect(put.indexCapacity).toEqual({ 'worker DynamoDB PutItem': 3 });
      expect(put.indexCapacityByIndex).toEqual({
        [indexKind('worker DynamoDB PutItem', 'everything')]: 1,
        [indexKind('worker DynamoDB PutItem', 'keys')]: 1,
        [indexKind('worker DynamoDB PutItem', 'status')]: 1,
      });

      const projected = await units(() =>
        documents.send(new UpdateCommand({ TableName, Key, UpdateExpression: 'SET #s = :s', ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':s': 'leased' } })),
      );
      expect(projected.indexCapacityByIndex).toEqual({
        [indexKind('worker DynamoDB UpdateItem', 'everything')]: 1,
        [indexKind('worker DynamoDB UpdateItem', 'status')]: 1,
      });

      const moved = await units(() => documents.send(new UpdateCommand({ TableName, Key, UpdateExpression: 'SET gsk = :k', ExpressionAttributeValues: { ':k': 'running#1' } })));
      expect(moved.indexCapacity).toEqual({ 'worker DynamoDB UpdateItem': 6 });

      const refused = await units(() => documents.send(new UpdateCommand({ TableName, Key, UpdateExpression: 'SET gsk = :k', ConditionExpression: 'attribute_not_exists(pk)', ExpressionAttributeValues: { ':k': 'x' } })));
      expect(refused.indexCapacity).toEqual({});

      const left = await units(() => documents.send(new UpdateCommand({ TableName, Key, UpdateExpression: 'REMOVE gpk' })));
      expect(left.indexCapacity).toEqual({ 'worker DynamoDB UpdateItem': 3 });
      const unindexedDelete = await units(() => documents.send(new DeleteCommand({ TableName, Key })));
      expect(unindexedDelete.indexCapacity).toEqual({});

      const batch = await units(() =>
        documents.send(new BatchWriteCommand({
          RequestItems: { [TableName]: ['1', '2'].map((sk) => ({ PutRequest: { Item: { pk: 't2', sk, gpk: 'tenant', gsk: `queued#${sk}` } } })) },
        })),
      );
      expect(batch.indexCapacity).toEqual({ 'worker DynamoDB BatchWriteItem': 6 });
      expect(batch.capacity).toEqual({ 'worker DynamoDB BatchWriteItem': 2 });

      // Side by side on one item, the same write four times: only the one that came first moved
      // it (6), which the others' images show only if each is read around its own write.
      const sideBySide = meter.snapshot();
      await Promise.all(
        [1, 2, 3, 4].map(() =>
          meter.invocation('worker', 1024, () =>
            documents.send(new UpdateCommand({ TableName, Key: { pk: 't2', sk: '1' }, UpdateExpression: 'SET gsk = :k', ExpressionAttributeValues: { ':k': 'moved' } })),
          ),
        ),
      );
      expect(difference(meter.snapshot(), sideBySide).indexCapacity).toEqual({ 'worker DynamoDB UpdateItem': 6 });
      const { Item } = await raw.send(new GetItemCommand({ TableName, Key: { pk: { S: 't2' }, sk: { S: '1' } } }));
      expect(Item?.['gsk']?.S).toBe('moved');
      raw.destroy();
    } finally {
      await emulators.stop();
    }
  });
});
