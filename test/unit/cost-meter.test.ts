import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { dynamoDbClient, sqsClient, type AwsClientConfig } from '../../lambdas/adapters/runtime';
import { CostMeter, difference, PLATFORM_CALLER } from '../../bin/local-cloud/cost-meter';

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
