import { ChangeMessageVisibilityBatchCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import type { Logger } from '../domain/ports';

/** How long the queue keeps a delivery hidden from other consumers (on AWS: SQS visibility). */
export interface MessageVisibility {
  /** Hides these deliveries for `seconds` from now (0 makes them visible at once). */
  set(records: readonly SQSRecord[], seconds: number): Promise<void>;
}

/** SQS ChangeMessageVisibilityBatch by queue; queue URLs come from the records' ARNs (cached). */
export class SqsMessageVisibility implements MessageVisibility {
  private readonly urls = new Map<string, Promise<string>>();

  constructor(private readonly sqs: SQSClient) {}

  async set(records: readonly SQSRecord[], seconds: number): Promise<void> {
    const byQueue = new Map<string, SQSRecord[]>();
    for (const record of records) byQueue.set(record.eventSourceARN, [...(byQueue.get(record.eventSourceARN) ?? []), record]);
    await Promise.all(
      [...byQueue].map(async ([arn, queued]) => {
        const QueueUrl = await this.urlOf(arn);
        for (let i = 0; i < queued.length; i += 10) {
          await this.sqs.send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl,
              Entries: queued.slice(i, i + 10).map((r, j) => ({ Id: String(i + j), ReceiptHandle: r.receiptHandle, VisibilityTimeout: seconds })),
            }),
          );
        }
      }),
    );
  }

  private urlOf(arn: string): Promise<string> {
    let url = this.urls.get(arn);
    if (!url) {
      // arn:aws:sqs:<region>:<account>:<name>
      const [, , , , account, name] = arn.split(':');
      url = this.sqs.send(new GetQueueUrlCommand({ QueueName: name!, QueueOwnerAWSAccountId: account! })).then((r) => r.QueueUrl!);
      url.catch(() => this.urls.delete(arn));
      this.urls.set(arn, url);
    }
    return url;
  }
}

/**
 * The worker's hold on the messages of one batch: from the start of the invocation it hides
 * every record for `leaseSeconds` (instead of the queue's long visibility timeout) and renews
 * that every third of it until the invocation ends. A worker that dies therefore frees its
 * messages within `leaseSeconds`. A record to retry gets its own, shorter delay.
 */
export const holdBatch = (visibility: MessageVisibility, records: readonly SQSRecord[], leaseSeconds: number, logger: Logger) => {
  const held = new Set(records);
  const apply = (targets: readonly SQSRecord[], seconds: number) => () =>
    targets.length === 0
      ? Promise.resolve()
      : visibility.set(targets, seconds).catch((error: unknown) =>
          logger.warn('could not change message visibility', { error: error instanceof Error ? error.message : String(error) }),
        );
  let chain = apply([...held], leaseSeconds)();
  const timer = setInterval(() => {
    chain = chain.then(apply([...held], leaseSeconds));
  }, Math.max(1000, (leaseSeconds * 1000) / 3));
  return {
    /** This record comes back after `afterMs` (rounded up to whole seconds), not after the lease. */
    retryAfter(record: SQSRecord, afterMs: number) {
      held.delete(record);
      chain = chain.then(apply([record], Math.min(43_200, Math.max(1, Math.ceil(afterMs / 1000)))));
    },
    async stop() {
      clearInterval(timer);
      await chain;
    },
  };
};
