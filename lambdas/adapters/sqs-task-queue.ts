import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { TaskQueue } from '../domain/ports';
import type { Priority, TaskMessage } from '../domain/task';

/** One FIFO queue per priority. Message group and deduplication id as the domain computed them. */
export class SqsTaskQueue implements TaskQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrls: Readonly<Record<Priority, string>>,
  ) {}

  async send(message: TaskMessage, priority: Priority, messageGroup: string, deduplicationId: string): Promise<void> {
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrls[priority],
        MessageBody: JSON.stringify(message),
        MessageGroupId: messageGroup,
        MessageDeduplicationId: deduplicationId,
      }),
    );
  }
}
