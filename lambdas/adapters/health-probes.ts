import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { ListExecutionsCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { access, constants } from 'node:fs/promises';
import type { HealthChecks } from '../contracts';
import type { DependencyProbe } from '../domain/use-cases/health';

export interface ProbeClients {
  dynamodb: DynamoDBClient;
  sqs: SQSClient;
  kms: KMSClient;
  sfn: SFNClient;
}

/** A dependency that answered but is not usable (a table being deleted, a key disabled). */
export class DependencyUnusableError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = reason;
  }
}

/**
 * One cheap describe per dependency of HEALTH_CHECKS: DescribeTable, GetQueueAttributes
 * (QueueArn), DescribeKey (enabled), ListExecutions (one) of each state machine. `localKeyFiles` (LOCAL ONLY: no KMS
 * emulator) replaces the key probes with a read check of the key files that stand in for them.
 */
export const dependencyProbes = (checks: HealthChecks, clients: ProbeClients, localKeyFiles?: Readonly<Record<string, string>>): DependencyProbe[] => [
  ...Object.entries(checks.tables).map(([name, table]): DependencyProbe => ({
    name: `table:${name}`,
    kind: 'table',
    check: async (abortSignal) => {
      const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: table }), { abortSignal });
      if (Table?.TableStatus === 'DELETING' || Table?.TableStatus === 'ARCHIVED') throw new DependencyUnusableError('TableNotActive');
    },
  })),
  ...Object.entries(checks.queues).map(([name, queueUrl]): DependencyProbe => ({
    name: `queue:${name}`,
    kind: 'queue',
    check: async (abortSignal) => {
      await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }), { abortSignal });
    },
  })),
  ...(localKeyFiles
    ? Object.entries(localKeyFiles).map(([name, file]): DependencyProbe => ({
        name: `key:${name}`,
        kind: 'key',
        check: async () => access(file, constants.R_OK),
      }))
    : Object.entries(checks.keys).map(([name, keyId]): DependencyProbe => ({
        name: `key:${name}`,
        kind: 'key',
        check: async (abortSignal) => {
          const { KeyMetadata } = await clients.kms.send(new DescribeKeyCommand({ KeyId: keyId }), { abortSignal });
          if (KeyMetadata?.Enabled === false) throw new DependencyUnusableError('KeyDisabled');
        },
      }))),
  ...Object.entries(checks.stateMachines).map(([name, arn]): DependencyProbe => ({
    name: `stateMachine:${name}`,
    kind: 'stateMachine',
    check: async (abortSignal) => {
      // One page of one execution: as cheap as DescribeStateMachine, and the local Step Functions stand-in serves it.
      await clients.sfn.send(new ListExecutionsCommand({ stateMachineArn: arn, maxResults: 1 }), { abortSignal });
    },
  })),
];
