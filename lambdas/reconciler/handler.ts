import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { systemClock } from '../domain/ports';
import { redispatchPending, type DispatchDeps } from '../domain/use-cases/dispatch';
import { createObservability, taskQueue, tasksRepository, type AwsClientConfig, type Env } from '../adapters/runtime';

/** A task whose dispatch is unconfirmed after this long is assumed orphaned by a crash. */
export const ORPHAN_AFTER_MS = 30_000;

/** Scheduled: finishes the dispatch of tasks whose submitter died between the write and the send. */
export const makeHandler = (deps: DispatchDeps) => async (_event: ScheduledEvent) => ({
  redispatched: await redispatchPending(deps, { olderThanMs: ORPHAN_AFTER_MS, limit: 100 }),
});

export const createHandler = (env: Env, aws: AwsClientConfig = {}) => {
  const { logger, metrics, tracer, telemetry } = createObservability('reconciler', env);
  return middy(
    makeHandler({
      tasks: tasksRepository(env, aws, tracer),
      queue: taskQueue(env, aws, tracer),
      clock: systemClock,
      logger,
      telemetry,
    }),
  )
    .use(injectLambdaContext(logger))
    .use(captureLambdaHandler(tracer))
    .use(logMetrics(metrics));
};

let cached: ReturnType<typeof createHandler> | undefined;
export const handler = (event: ScheduledEvent, context: Context) => (cached ??= createHandler(process.env))(event, context);
