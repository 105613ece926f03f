import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction as LambdaTarget } from 'aws-cdk-lib/aws-events-targets';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { AGING_PRIORITIES, ENV, type AgentManifest, type Priority, type QuotaSettings } from '../../lambdas/contracts';
import { PriorityQueues } from '../constructs/priority-queues';
import { SwitchboardFunction } from '../constructs/switchboard-function';
import type { TasksTable } from '../constructs/tasks-table';
import type { DataKeys } from '../constructs/data-keys';

export interface MessagingStackProps extends StackProps {
  key: IKey;
  tasks: TasksTable;
  /** The enabled agents: the worker runs them, with their permissions, within its timeout. */
  agents: readonly AgentManifest[];
  workerTimeout: Duration;
  batchSize: number;
  /** Per priority, the worker invocations its queue may run at once. */
  concurrency: Readonly<Record<Priority, number>>;
  maxAttempts: number;
  /** A worker's claim on a task and its message, renewed while the agent runs. */
  lease: Duration;
  /** Per level below critical, how long a queued task waits before the escalator promotes it (default 60/300/900 s). */
  aging?: Readonly<Record<'high' | 'normal' | 'low', Duration>>;
  /** Per-tenant quotas: the functions that end tasks give the tenants' in-flight slots back. Absent: none. */
  quotas?: QuotaSettings;
  removalPolicy: RemovalPolicy;
  /** The data keys: the worker, dead-letter handler and reconciler seal and open sensitive task data. Absent: nothing sealed. */
  dataKeys?: DataKeys;
}

const DEFAULT_AGING = { high: Duration.seconds(60), normal: Duration.seconds(300), low: Duration.seconds(900) };

const DEAD_LETTER_TIMEOUT = Duration.seconds(10);

const quotaEnvironment = (quotas: QuotaSettings | undefined): Record<string, string> =>
  quotas ? { [ENV.quotas]: JSON.stringify(quotas) } : {};

/** Receives of one task message before it moves to its dead-letter queue. */
export const maxReceiveCount = (maxAttempts: number) => 2 * maxAttempts + 3;

/** The task path after submit: priority queues, the worker that runs agents, the dispatch reconciler. */
export class MessagingStack extends Stack {
  readonly queues: PriorityQueues;
  readonly worker: SwitchboardFunction;
  readonly reconciler: SwitchboardFunction;
  readonly deadLetter: SwitchboardFunction;

  constructor(scope: Construct, id: string, props: MessagingStackProps) {
    super(scope, id, props);
    this.queues = new PriorityQueues(this, 'TaskQueues', {
      encryptionKey: props.key,
      consumerTimeout: props.workerTimeout,
      // Each attempt may take two receives (a redelivery that meets a lease still held waits it
      // out), and a worker that dies mid-task still leaves deliveries to record ATTEMPTS_EXHAUSTED.
      maxReceiveCount: maxReceiveCount(props.maxAttempts),
      deadLetterConsumerTimeout: DEAD_LETTER_TIMEOUT,
      removalPolicy: props.removalPolicy,
    });

    this.worker = new SwitchboardFunction(this, 'Worker', {
      entry: 'lambdas/worker/handler.ts',
      description: 'Runs queued agent tasks and records their terminal state',
      timeout: props.workerTimeout,
      removalPolicy: props.removalPolicy,
      logEncryptionKey: props.key,
      environment: {
        [ENV.enabledAgents]: props.agents.map((agent) => agent.name).join(','),
        [ENV.maxAttempts]: String(props.maxAttempts),
        [ENV.leaseMs]: String(props.lease.toMilliseconds()),
        ...quotaEnvironment(props.quotas),
      },
    });
    for (const agent of props.agents) {
      if (agent.timeoutSeconds > props.workerTimeout.toSeconds()) {
        throw new Error(
          `MessagingStack: agent "${agent.name}" may run ${agent.timeoutSeconds}s, longer than the worker timeout (${props.workerTimeout.toSeconds()}s): raise worker.timeoutSeconds`,
        );
      }
      for (const permission of agent.permissions) {
        this.worker.addToRolePolicy(new PolicyStatement({ actions: [...permission.actions], resources: [...permission.resources] }));
      }
    }
    props.tasks.bind(this.worker, 'readWrite');
    this.queues.addConsumer(this.worker, { batchSize: props.batchSize, concurrency: props.concurrency });

    const deadLetter = (this.deadLetter = new SwitchboardFunction(this, 'DeadLetterHandler', {
      entry: 'lambdas/dead-letter/handler.ts',
      description: 'Fails the tasks whose messages reached a dead-letter queue (DEAD_LETTERED)',
      timeout: DEAD_LETTER_TIMEOUT,
      removalPolicy: props.removalPolicy,
      logEncryptionKey: props.key,
      environment: quotaEnvironment(props.quotas),
    }));
    props.tasks.bind(deadLetter, 'readWrite');
    this.queues.addDeadLetterConsumer(deadLetter, { batchSize: 10 });

    const reconciler = (this.reconciler = new SwitchboardFunction(this, 'Reconciler', {
      entry: 'lambdas/reconciler/handler.ts',
      description: 'Re-sends tasks whose queue message was never confirmed, and promotes queued tasks that waited too long',
      timeout: Duration.seconds(60),
      removalPolicy: props.removalPolicy,
      logEncryptionKey: props.key,
      environment: {
        ...Object.fromEntries(AGING_PRIORITIES.map((p) => [ENV.agingMs(p), String((props.aging?.[p] ?? DEFAULT_AGING[p]).toMilliseconds())])),
        ...quotaEnvironment(props.quotas),
      },
    }));
    props.tasks.bind(reconciler, 'readWrite');
    // Each reads tasks (opens their sealed data) and records results, errors or outcomes (seals them anew).
    for (const fn of [this.worker, deadLetter, reconciler]) props.dataKeys?.bindEnvelope(fn, 'seal-and-open');
    this.queues.bindProducer(reconciler);
    new Rule(this, 'ReconcileSchedule', {
      description: 'Every minute: finish dispatches that a crash interrupted, promote queued tasks past their SLA',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaTarget(reconciler, { retryAttempts: 2 })],
    });
  }
}
