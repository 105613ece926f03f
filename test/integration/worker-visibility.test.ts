import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdBatch, SqsMessageVisibility } from '../../lambdas/adapters/sqs-visibility';
import { startEmulatedPlatform, type EmulatedPlatform } from '../../bin/harness/emulated-platform';
import { silentLogger } from '../../bin/harness/in-memory';

let env: EmulatedPlatform;
beforeAll(async () => {
  env = await startEmulatedPlatform();
});
afterAll(() => env?.stop());

/** Sends one message to the low queue and receives it with a long visibility, as the event source mapping would. */
const deliver = async (id: string): Promise<SQSRecord> => {
  const source = env.platform.eventSources.find((s) => s.queueUrl === env.queueUrls.low)!;
  await env.sqs.send(new SendMessageCommand({ QueueUrl: source.queueUrl, MessageBody: id, MessageGroupId: id, MessageDeduplicationId: id }));
  const { Messages = [] } = await env.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: source.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 300 }),
  );
  const message = Messages.find((m) => m.Body === id)!;
  return {
    messageId: message.MessageId!, receiptHandle: message.ReceiptHandle!, body: id, attributes: {} as SQSRecord['attributes'],
    messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: source.queueArn, awsRegion: 'us-east-1',
  };
};
const visibleAgain = async (id: string, withinMs: number): Promise<boolean> => {
  const until = Date.now() + withinMs;
  while (Date.now() < until) {
    const { Messages = [] } = await env.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: env.queueUrls.low, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 0 }),
    );
    if (Messages.some((m) => m.Body === id)) return true;
  }
  return false;
};

describe("the worker's hold on its messages (SQS visibility on the emulator)", () => {
  it('shortens a delivery from the queue visibility to one lease: a worker that dies frees it within the lease', async () => {
    const record = await deliver('hold-1');
    const hold = holdBatch(new SqsMessageVisibility(env.sqs), [record], 2, silentLogger);
    await hold.stop(); // the worker "dies" right after its first hold
    expect(await visibleAgain('hold-1', 1_000)).toBe(false);
    expect(await visibleAgain('hold-1', 4_000)).toBe(true);
  });

  it('brings a record to retry back after its own delay', async () => {
    const record = await deliver('hold-2');
    const hold = holdBatch(new SqsMessageVisibility(env.sqs), [record], 30, silentLogger);
    hold.retryAfter(record, 1);
    await hold.stop();
    expect(await visibleAgain('hold-2', 3_000)).toBe(true);
  });
});
