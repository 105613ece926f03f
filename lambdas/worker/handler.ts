import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod';
import { systemClock } from '../domain/ports';
import { processTask, type ProcessTaskDeps, type ProcessTaskOptions } from '../domain/use-cases/process-task';
import { TaskRecordSchema } from '../adapters/task-record';
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
  return async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
    processPartialResponse(event, recordHandler, new SqsFifoPartialProcessorAsync(), {
      context,
      skipGroupOnError: true,
      throwOnFullBatchFailure: false,
    });
};

const WorkerEnvShape = {
  [ENV.maxAttempts]: z.coerce.number().int().min(1).max(10),
  [ENV.leaseMs]: z.coerce.number().int().positive(),
};

export const createHandler = (env: Env, aws: AwsClientConfig = {}) => {
  const { logger, metrics, tracer, telemetry } = createObservability('worker', env);
  const config = readEnv(env, WorkerEnvShape);
  return middy(
    makeHandler({
      tasks: tasksRepository(env, aws, tracer),
      agents: agentRegistry(env),
      clock: systemClock,
      logger,
      telemetry,
      options: { maxAttempts: config[ENV.maxAttempts], leaseMs: config[ENV.leaseMs] },
    }),
  )
    .use(injectLambdaContext(logger))
    .use(captureLambdaHandler(tracer))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
};

let cached: ReturnType<typeof createHandler> | undefined;
export const handler = (event: SQSEvent, context: Context) => (cached ??= createHandler(process.env))(event, context);
