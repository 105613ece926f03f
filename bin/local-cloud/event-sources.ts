import { ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { LocalFunctions } from './functions';
import type { LocalEventSource } from './provision';

/**
 * Makes visible at once the messages a previous `npm start` held when it stopped. On AWS the
 * event source mapping's pollers belong to a service that never stops as a whole; locally they
 * stop with the process, and after a `kill -9` its messages would stay hidden for the rest of
 * their visibility timeout (up to 6× the worker's timeout), holding back their whole FIFO group.
 * At start nothing can be held legitimately yet: whatever is held belonged to the dead process.
 * (One second, not zero: fauxqs 2.4.1 loses a restored in-flight FIFO message made visible with
 * 0 and keeps its group locked; a 1 s expiry takes its timer path, which requeues it in order.)
 */
export const releaseHeldMessages = async (sqs: SQSClient, queueUrl: string, receipts: readonly string[]): Promise<number> => {
  for (let i = 0; i < receipts.length; i += 10) {
    const Entries = receipts.slice(i, i + 10).map((ReceiptHandle, j) => ({ Id: String(j), ReceiptHandle, VisibilityTimeout: 1 }));
    await sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries }));
  }
  return receipts.length;
};

/**
 * Emulates Lambda's SQS event source mapping: long-polls the queue, invokes the function with a
 * batch, deletes what succeeded (honouring `batchItemFailures`), and leaves the rest to come
 * back after the visibility timeout, as on AWS. Up to `source.maxConcurrency` invocations run at
 * once (the mapping's ScalingConfig.MaximumConcurrency): while all are busy it receives nothing,
 * so the queue's backlog waits for its own budget and never takes another queue's.
 */
export const startQueuePoller = (
  source: LocalEventSource,
  functions: LocalFunctions,
  sqs: SQSClient,
  region: string,
  log: (message: string) => void,
): { stop(): Promise<void> } => {
  let running = true;
  const inFlight = new Set<Promise<void>>();

  const invokeBatch = async (messages: Message[]): Promise<void> => {
    const event: SQSEvent = {
      Records: messages.map((m) => ({
        messageId: m.MessageId!,
        receiptHandle: m.ReceiptHandle!,
        body: m.Body ?? '',
        attributes: m.Attributes as SQSEvent['Records'][number]['attributes'],
        messageAttributes: {},
        md5OfBody: m.MD5OfBody ?? '',
        eventSource: 'aws:sqs',
        eventSourceARN: source.queueArn,
        awsRegion: region,
      })),
    };
    let failed = new Set<string>(messages.map((m) => m.MessageId!));
    try {
      const response = await functions.invoke<SQSBatchResponse | undefined>(source.functionName, event);
      failed = new Set(source.reportBatchItemFailures ? (response?.batchItemFailures ?? []).map((f) => f.itemIdentifier) : []);
    } catch (error) {
      log(`function ${source.functionName} failed on a batch of ${messages.length}: ${String(error)}`);
    }
    const done = messages.filter((m) => !failed.has(m.MessageId!));
    if (done.length > 0) {
      await sqs
        .send(new DeleteMessageBatchCommand({ QueueUrl: source.queueUrl, Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }))
        .catch((error: unknown) => log(`poller: delete failed: ${String(error)}`));
    }
  };

  const loop = (async () => {
    while (running) {
      if (inFlight.size >= Math.max(1, source.maxConcurrency)) {
        await Promise.race(inFlight);
        continue;
      }
      let messages: Message[] = [];
      try {
        ({ Messages: messages = [] } = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: source.queueUrl,
            MaxNumberOfMessages: source.batchSize,
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
        ));
      } catch (error) {
        if (!running) break;
        log(`poller ${source.queueArn}: receive failed: ${String(error)}`);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (messages.length === 0) continue;
      const invocation: Promise<void> = invokeBatch(messages).finally(() => inFlight.delete(invocation));
      inFlight.add(invocation);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      await Promise.all(inFlight);
    },
  };
};
