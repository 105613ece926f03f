import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { ENV } from '../../lambdas/contracts';
import { DynamoDbTaskRepository } from '../../lambdas/adapters/dynamodb-task-repository';
import { SqsTaskQueue } from '../../lambdas/adapters/sqs-task-queue';
import { PRIORITIES, type Priority } from '../../lambdas/contracts';
import { startEmulators } from '../local-cloud/emulators';
import { provision } from '../local-cloud/provision';
import { readProjectConfig, synthesizeTemplates } from '../local-cloud/synth';

/**
 * The emulators with the tables and queues of the synthesized CDK app, and the real adapters
 * pointed at them: what integration tests run against.
 */
export const startEmulatedPlatform = async () => {
  const config = readProjectConfig();
  const emulators = await startEmulators({ region: config.primaryRegion });
  const platform = await provision(synthesizeTemplates(config), emulators.aws, config.primaryRegion, () => undefined);
  const workerEnv = [...platform.functions.values()].find((f) => f.entry === 'lambdas/worker/handler.ts')!.environment;
  const gatewayEnv = [...platform.functions.values()].find((f) => f.entry === 'lambdas/mcp-gateway/handler.ts')!.environment;
  const dynamodb = new DynamoDBClient(emulators.aws.dynamodb!);
  const sqs = new SQSClient(emulators.aws.sqs!);
  const queueUrls = Object.fromEntries(PRIORITIES.map((p) => [p, gatewayEnv[ENV.queueUrl(p)]!])) as Record<Priority, string>;
  return {
    config,
    emulators,
    platform,
    workerEnv,
    gatewayEnv,
    dynamodb,
    sqs,
    queueUrls,
    tasks: new DynamoDbTaskRepository(dynamodb, gatewayEnv[ENV.tasksTable]!),
    queue: new SqsTaskQueue(sqs, queueUrls),
    stop: () => emulators.stop(),
  };
};
export type EmulatedPlatform = Awaited<ReturnType<typeof startEmulatedPlatform>>;
