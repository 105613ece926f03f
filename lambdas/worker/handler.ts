import type { SQSRecord } from 'aws-lambda';
import * as z from 'zod';
import { systemClock } from '../domain/ports';
import { processTask, type ProcessTaskDeps, type ProcessTaskOptions } from '../domain/use-cases/process-task';
import { TaskRecordSchema } from '../adapters/task-record';
import { fifoBatchHandler, instrument, lambdaEntry } from '../adapters/lambda-entry';
import { agentRegistry, createObservability, ENV, readEnv, tasksRepository, type AwsClientConfig, type Env } from '../adapters/runtime';

/** Thrown to leave a message on the queue: it comes back after its visibility timeout. */
export class RetryLaterError extends Error {
  override name = 'RetryLaterError';
}

export interface WorkerDeps extends ProcessTaskDeps {
  options: ProcessTaskOptions;
}

/**
 * FIFO batches with partial responses: a failed record fails the rest of its message group
 * (order is kept per tenant), other tenants' groups go on.
 */
export const makeHandler = (deps: WorkerDeps) => {
  const recordHandler = async (record: SQSRecord): Promise<void> => {
    // A body that is not a task message is poison: failing it sends it, in time, to the DLQ.
    const { body: message } = TaskRecordSchema.parse(record);
    const outcome = await processTask(deps, message, deps.options);
    if (outcome === 'retry') throw new RetryLaterError(`task ${message.taskId} will be retried`);
  };
  return fifoBatchHandler(recordHandler);
};

const WorkerEnvShape = {
  [ENV.maxAttempts]: z.coerce.number().int().min(1).max(10),
  [ENV.leaseMs]: z.coerce.number().int().positive(),
};

export const createHandler = (env: Env, aws: AwsClientConfig = {}) => {
  const observability = createObservability('worker', env);
  const config = readEnv(env, WorkerEnvShape);
  return instrument(
    makeHandler({
      tasks: tasksRepository(env, aws, observability.tracer),
      agents: agentRegistry(env),
      clock: systemClock,
      logger: observability.logger,
      telemetry: observability.telemetry,
      options: { maxAttempts: config[ENV.maxAttempts], leaseMs: config[ENV.leaseMs] },
    }),
    observability,
  );
};

export const handler = lambdaEntry(() => createHandler(process.env));
