import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { localArn, physicalName, propertiesOf, type ResourceHandler, type TemplateResource } from './resource-handler';

/** The queue attributes the emulator is given, when the template sets them. */
const COPIED_ATTRIBUTES = [
  'FifoQueue',
  'ContentBasedDeduplication',
  'VisibilityTimeout',
  'MessageRetentionPeriod',
  'DeduplicationScope',
  'FifoThroughputLimit',
  'DelaySeconds',
  'ReceiveMessageWaitTimeSeconds',
];

const queueName = ({ stackName, id }: TemplateResource, fifo: boolean) =>
  fifo ? `${physicalName(stackName, id).slice(0, 70)}.fifo` : physicalName(stackName, id).slice(0, 80);
const hasRedrive = (queue: TemplateResource) => Number('RedrivePolicy' in propertiesOf(queue));

/**
 * `AWS::SQS::Queue` → a fauxqs queue with the template's FIFO, timing and redrive attributes
 * (the KMS settings mean nothing to the emulator). Dead-letter queues (no redrive policy) are
 * created first, so every redrive policy points at a queue that exists.
 */
export const sqsQueue = {
  type: 'AWS::SQS::Queue',
  identity: (ctx, queue) => {
    const name = queueName(queue, propertiesOf(queue)['FifoQueue'] === true);
    const url = `${ctx.aws.sqs?.endpoint}/${ctx.accountId}/${name}`;
    return { ref: url, attributes: { Arn: localArn(ctx, 'sqs', name), QueueName: name, QueueUrl: url } };
  },
  phase: 'create',
  provision: async (ctx, queues) => {
    const sqs = new SQSClient(ctx.aws.sqs ?? {});
    for (const queue of [...queues].sort((a, b) => hasRedrive(a) - hasRedrive(b))) {
      const p = ctx.resolver.resolve(queue.stackName, propertiesOf(queue)) as Record<string, unknown>;
      const QueueName = ctx.resolver.string(queue.stackName, { 'Fn::GetAtt': [queue.id, 'QueueName'] });
      const attributes: Record<string, string> = {};
      for (const key of COPIED_ATTRIBUTES) if (p[key] !== undefined) attributes[key] = String(p[key]);
      if (p['RedrivePolicy']) attributes['RedrivePolicy'] = JSON.stringify(p['RedrivePolicy']);
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName, Attributes: attributes }));
      const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
      ctx.resolver.define(queue.stackName, queue.id, {
        ref: QueueUrl!,
        attributes: { Arn: Attributes!['QueueArn']!, QueueName, QueueUrl: QueueUrl! },
      });
      ctx.platform.queues.set(`${queue.stackName}/${queue.id}`, QueueUrl!);
    }
    if (queues.length) ctx.log(`${queues.length} queues ready`);
  },
} satisfies ResourceHandler;
