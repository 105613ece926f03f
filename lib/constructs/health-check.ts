import { Duration, Stack, type RemovalPolicy } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ENV, type HealthChecks } from '../../lambdas/contracts';
import { SwitchboardFunction } from './switchboard-function';

export interface DeepHealthCheckProps {
  /** Each dependency by the name the report gives it (`table:<name>`, `queue:<name>`, …). */
  tables: Readonly<Record<string, ITable>>;
  queues: Readonly<Record<string, IQueue>>;
  keys: Readonly<Record<string, IKey>>;
  stateMachines: Readonly<Record<string, IStateMachine>>;
  removalPolicy: RemovalPolicy;
  /** The key of the function's log group. */
  logEncryptionKey?: IKey;
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The deep health check (lambdas/health/handler.ts): a function that describes each dependency
 * (DescribeTable, GetQueueAttributes, DescribeKey, ListExecutions of one) and may do nothing else:
 * its role holds those four read-only actions on those resources only.
 */
export class DeepHealthCheck extends Construct {
  readonly function: SwitchboardFunction;

  constructor(scope: Construct, id: string, props: DeepHealthCheckProps) {
    super(scope, id);
    const groups = { tables: props.tables, queues: props.queues, keys: props.keys, stateMachines: props.stateMachines };
    for (const [group, named] of Object.entries(groups)) {
      for (const name of Object.keys(named)) if (!NAME.test(name)) throw new Error(`DeepHealthCheck: ${group} name "${name}" must be 1-64 letters, digits or _.-`);
    }
    if (Object.keys(props.tables).length + Object.keys(props.queues).length === 0) throw new Error('DeepHealthCheck: nothing to check (no table, no queue)');
    const checks = {
      tables: Object.fromEntries(Object.entries(props.tables).map(([name, table]) => [name, table.tableName])),
      queues: Object.fromEntries(Object.entries(props.queues).map(([name, queue]) => [name, queue.queueUrl])),
      keys: Object.fromEntries(Object.entries(props.keys).map(([name, key]) => [name, key.keyArn])),
      stateMachines: Object.fromEntries(Object.entries(props.stateMachines).map(([name, machine]) => [name, machine.stateMachineArn])),
    } satisfies HealthChecks;
    this.function = new SwitchboardFunction(this, 'HealthCheck', {
      entry: 'lambdas/health/handler.ts',
      description: 'Deep health check: describes every table, queue, key and state machine (operators, GET /healthz/deep)',
      timeout: Duration.seconds(10),
      memorySize: 256,
      removalPolicy: props.removalPolicy,
      ...(props.logEncryptionKey ? { logEncryptionKey: props.logEncryptionKey } : {}),
      environment: { [ENV.healthChecks]: Stack.of(this).toJsonString(checks) },
    });
    for (const table of Object.values(props.tables)) table.grant(this.function, 'dynamodb:DescribeTable');
    for (const queue of Object.values(props.queues)) queue.grant(this.function, 'sqs:GetQueueAttributes');
    for (const key of Object.values(props.keys)) key.grant(this.function, 'kms:DescribeKey');
    for (const machine of Object.values(props.stateMachines)) machine.grant(this.function, 'states:ListExecutions');
  }
}
