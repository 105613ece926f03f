import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { NagSuppressions } from '../nag';
import { ENV, PRIORITIES, type Priority } from '../../lambdas/contracts';

/** AWS's advice for SQS event sources: visibility timeout at least six times the function timeout. */
export const VISIBILITY_TO_TIMEOUT_RATIO = 6;

/** Lambda's bounds for an SQS event source mapping's maximum concurrency (ScalingConfig.MaximumConcurrency). */
export const MIN_CONCURRENCY = 2;
export const MAX_CONCURRENCY = 1000;

/** The dead-letter handler's budget per DLQ: dead-lettered tasks are few, and must not crowd out the worker. */
export const DEAD_LETTER_CONCURRENCY = 2;

export interface ConsumerOptions {
  /** Messages per invocation (1–10: FIFO mappings take no batching window). */
  batchSize: number;
  /**
   * Per priority, the invocations its queue may keep running at once, 2–1000, each at least the
   * next lower priority's: a flood of low work fills the low budget and nothing else.
   */
  concurrency: Readonly<Record<Priority, number>>;
}

export interface PriorityQueuesProps {
  encryptionKey: IKey;
  /** The timeout of the function that consumes the queues. */
  consumerTimeout: Duration;
  /** Defaults to 6 × consumerTimeout; lower values are rejected. */
  visibilityTimeout?: Duration;
  /** Receives before a message moves to its DLQ. */
  maxReceiveCount: number;
  /** The timeout of the function that consumes the dead-letter queues (their visibility is 6× it). */
  deadLetterConsumerTimeout?: Duration;
  removalPolicy: RemovalPolicy;
}

/**
 * Four FIFO queues, one per priority (critical, high, normal, low), each with a FIFO dead-letter
 * queue, encrypted with the platform key, TLS enforced by queue policy, per-message-group
 * throughput so one tenant's group never holds back another's.
 */
export class PriorityQueues extends Construct {
  readonly queues: Readonly<Record<Priority, Queue>>;
  readonly deadLetterQueues: Readonly<Record<Priority, Queue>>;
  readonly visibilityTimeout: Duration;
  readonly deadLetterVisibilityTimeout: Duration;

  constructor(scope: Construct, id: string, props: PriorityQueuesProps) {
    super(scope, id);
    const minimum = props.consumerTimeout.toSeconds() * VISIBILITY_TO_TIMEOUT_RATIO;
    this.visibilityTimeout = props.visibilityTimeout ?? Duration.seconds(minimum);
    if (this.visibilityTimeout.toSeconds() < minimum) {
      throw new Error(
        `PriorityQueues: visibilityTimeout ${this.visibilityTimeout.toSeconds()}s is below ${VISIBILITY_TO_TIMEOUT_RATIO}× the consumer timeout (${minimum}s)`,
      );
    }
    if (this.visibilityTimeout.toSeconds() > 43_200) throw new Error('PriorityQueues: visibilityTimeout above 12 hours');
    if (!Number.isInteger(props.maxReceiveCount) || props.maxReceiveCount < 2 || props.maxReceiveCount > 1000) {
      throw new Error('PriorityQueues: maxReceiveCount must be an integer from 2 to 1000');
    }

    this.deadLetterVisibilityTimeout = Duration.seconds(
      (props.deadLetterConsumerTimeout ?? Duration.seconds(10)).toSeconds() * VISIBILITY_TO_TIMEOUT_RATIO,
    );
    const queues: Partial<Record<Priority, Queue>> = {};
    const dlqs: Partial<Record<Priority, Queue>> = {};
    for (const priority of PRIORITIES) {
      const name = priority.charAt(0).toUpperCase() + priority.slice(1);
      const dlq = new Queue(this, `${name}Dlq`, {
        fifo: true,
        encryption: QueueEncryption.KMS,
        encryptionMasterKey: props.encryptionKey,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
        visibilityTimeout: this.deadLetterVisibilityTimeout,
        removalPolicy: props.removalPolicy,
      });
      NagSuppressions.addResourceSuppressions(dlq, [
        { id: 'AwsSolutions-SQS3', reason: 'This queue is itself the dead-letter queue of the priority queue.' },
      ]);
      queues[priority] = new Queue(this, name, {
        fifo: true,
        contentBasedDeduplication: false,
        deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
        fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
        encryption: QueueEncryption.KMS,
        encryptionMasterKey: props.encryptionKey,
        dataKeyReuse: Duration.minutes(5),
        enforceSSL: true,
        visibilityTimeout: this.visibilityTimeout,
        retentionPeriod: Duration.days(4),
        deadLetterQueue: { queue: dlq, maxReceiveCount: props.maxReceiveCount },
        removalPolicy: props.removalPolicy,
      });
      dlqs[priority] = dlq;
    }
    this.queues = queues as Record<Priority, Queue>;
    this.deadLetterQueues = dlqs as Record<Priority, Queue>;
  }

  /** Lets `fn` send to every priority: sets the QUEUE_URL_* variables and grants send, in one call. */
  bindProducer(fn: LambdaFunction): void {
    for (const priority of PRIORITIES) {
      fn.addEnvironment(ENV.queueUrl(priority), this.queues[priority].queueUrl);
      this.queues[priority].grantSendMessages(fn);
    }
  }

  /**
   * Subscribes `fn` to every priority with partial batch responses, one event source mapping per
   * queue, each capped at its priority's concurrency budget. The fast lane: a batch comes from
   * one queue, so critical work never shares an invocation with lower work, and a FIFO mapping
   * has no batching window, so it invokes as soon as its receive returns.
   */
  addConsumer(fn: LambdaFunction, options: ConsumerOptions): void {
    PRIORITIES.forEach((priority, rank) => {
      const budget = options.concurrency[priority];
      if (!Number.isInteger(budget) || budget < MIN_CONCURRENCY || budget > MAX_CONCURRENCY) {
        throw new Error(
          `PriorityQueues: concurrency.${priority} ${budget} must be an integer from ${MIN_CONCURRENCY} to ${MAX_CONCURRENCY} (an event source mapping's maximum concurrency)`,
        );
      }
      const lower = PRIORITIES[rank + 1];
      if (lower !== undefined && options.concurrency[lower] > budget) {
        throw new Error(
          `PriorityQueues: concurrency.${lower} ${options.concurrency[lower]} exceeds concurrency.${priority} ${budget}: a higher priority never gets a smaller budget`,
        );
      }
    });
    this.subscribe(fn, this.queues, this.visibilityTimeout, options.batchSize, (priority) => options.concurrency[priority]);
  }

  /** Subscribes `fn` to every dead-letter queue: it must give each dead-lettered task its terminal state. */
  addDeadLetterConsumer(fn: LambdaFunction, options: { batchSize: number }): void {
    this.subscribe(fn, this.deadLetterQueues, this.deadLetterVisibilityTimeout, options.batchSize, () => DEAD_LETTER_CONCURRENCY);
  }

  private subscribe(
    fn: LambdaFunction,
    queues: Readonly<Record<Priority, Queue>>,
    visibility: Duration,
    batchSize: number,
    maxConcurrency: (priority: Priority) => number,
  ): void {
    const timeout = fn.timeout?.toSeconds() ?? 3;
    if (timeout * VISIBILITY_TO_TIMEOUT_RATIO > visibility.toSeconds()) {
      throw new Error(`PriorityQueues: consumer timeout ${timeout}s is too long for visibility ${visibility.toSeconds()}s`);
    }
    for (const priority of PRIORITIES) {
      fn.addEventSource(
        new SqsEventSource(queues[priority], { batchSize, reportBatchItemFailures: true, maxConcurrency: maxConcurrency(priority) }),
      );
    }
  }
}
