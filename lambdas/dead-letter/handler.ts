import type { SQSRecord } from 'aws-lambda';
import { systemClock, type TaskServiceDeps } from '../domain/ports';
import { failDeadLettered } from '../domain/use-cases/fail-dead-lettered';
import { TaskRecordSchema } from '../adapters/task-record';
import { fifoBatchHandler, instrument, lambdaEntry } from '../adapters/lambda-entry';
import { createObservability, envelopeSettings, taskSealing, tasksRepository, tenantQuota, type AwsClientConfig } from '../adapters/runtime';
import { auditedTasks } from '../adapters/audit-runtime';
import { DeadLetterEnvSchema, ENV, readEnv, type Env } from '../contracts';

export type DeadLetterDeps = Pick<TaskServiceDeps, 'tasks' | 'clock' | 'logger' | 'telemetry' | 'quota'>;

/**
 * Consumes the priority queues' dead-letter queues: each task whose message landed there fails
 * with DEAD_LETTERED, so every acknowledged task still ends in exactly one terminal state.
 * A body that is no task message cannot be failed: it is logged whole and dropped, since a FIFO
 * dead-letter queue has no queue behind it and a message kept there would block its group.
 */
export const makeHandler = (deps: DeadLetterDeps) => {
  const recordHandler = async (record: SQSRecord): Promise<void> => {
    const parsed = TaskRecordSchema.safeParse(record);
    if (!parsed.success) {
      deps.logger.error('dead-lettered message is not a task message: dropped', { messageId: record.messageId, body: record.body });
      return;
    }
    const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? 0);
    const outcome = await failDeadLettered(deps, parsed.data.body, receiveCount);
    deps.logger.warn('dead-lettered task handled', { ...parsed.data.body, outcome });
  };
  return fifoBatchHandler(recordHandler);
};

export const createHandler = (rawEnv: Env, aws: AwsClientConfig = {}) => {
  const observability = createObservability('dead-letter', rawEnv);
  const { logger, tracer, telemetry } = observability;
  const env = readEnv(DeadLetterEnvSchema, rawEnv);
  const quotas = env[ENV.quotas];
  return instrument(
    makeHandler({
      // Failing a sensitive task rewrites its sealed data (the error is sealed with it).
      tasks: auditedTasks(tasksRepository(env[ENV.tasksTable], aws, tracer, taskSealing(envelopeSettings(env[ENV.classifications], rawEnv), aws, tracer)), env[ENV.auditTable], 'dead-letter', logger, aws, tracer),
      clock: systemClock,
      logger,
      telemetry,
      ...(quotas ? { quota: tenantQuota(env[ENV.tasksTable], quotas, aws, tracer) } : {}),
    }),
    observability,
  );
};

export const handler = lambdaEntry(() => createHandler(process.env));
