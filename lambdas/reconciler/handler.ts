import type { ScheduledEvent } from 'aws-lambda';
import { systemClock } from '../domain/ports';
import { redispatchPending, type DispatchDeps } from '../domain/use-cases/dispatch';
import { instrument, lambdaEntry } from '../adapters/lambda-entry';
import { createObservability, taskQueue, tasksRepository, type AwsClientConfig } from '../adapters/runtime';
import { ENV, queueUrlsOf, readEnv, ReconcilerEnvSchema, type Env } from '../contracts';

/** A task whose dispatch is unconfirmed after this long is assumed orphaned by a crash. */
export const ORPHAN_AFTER_MS = 30_000;

/** Scheduled: finishes the dispatch of tasks whose submitter died between the write and the send. */
export const makeHandler = (deps: DispatchDeps) => async (_event: ScheduledEvent) => ({
  redispatched: await redispatchPending(deps, { olderThanMs: ORPHAN_AFTER_MS, limit: 100 }),
});

export const createHandler = (rawEnv: Env, aws: AwsClientConfig = {}) => {
  const observability = createObservability('reconciler', rawEnv);
  const { logger, tracer, telemetry } = observability;
  const env = readEnv(ReconcilerEnvSchema, rawEnv);
  return instrument(
    makeHandler({
      tasks: tasksRepository(env[ENV.tasksTable], aws, tracer),
      queue: taskQueue(queueUrlsOf(env), aws, tracer),
      clock: systemClock,
      logger,
      telemetry,
    }),
    observability,
  );
};

export const handler = lambdaEntry(() => createHandler(process.env));
