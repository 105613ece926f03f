import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { systemClock } from '../domain/ports';
import { processTask, type ProcessTaskDeps, type ProcessTaskOptions } from '../domain/use-cases/process-task';
import { TaskRecordSchema } from '../adapters/task-record';
import { holdBatch, SqsMessageVisibility, type MessageVisibility } from '../adapters/sqs-visibility';
import { fifoBatchHandler, instrument, lambdaEntry } from '../adapters/lambda-entry';
import { createObservability, deploymentAgents, envelopeSettings, sqsClient, taskSealing, tasksRepository, tenantQuota, workflowEngine, type AwsClientConfig } from '../adapters/runtime';
import { auditedTasks } from '../adapters/audit-runtime';
import { ENV, readEnv, WorkerEnvSchema, type Env } from '../contracts';

/** Thrown to leave a message on the queue: it comes back after the delay its hold was given. */
export class RetryLaterError extends Error {
  override name = 'RetryLaterError';
}

export interface WorkerDeps extends ProcessTaskDeps {
  options: ProcessTaskOptions;
  visibility: MessageVisibility;
}

/**
 * FIFO batches with partial responses: the batch's message groups run concurrently, each group's
 * records in order, and a failed record fails the rest of its group (tasks that share an ordering
 * key keep their order) while the other groups go on. The batch's messages stay hidden for one
 * lease at a time, renewed while the invocation runs.
 */
export const makeHandler = (deps: WorkerDeps) => async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  const hold = holdBatch(deps.visibility, event.Records, Math.ceil(deps.options.leaseMs / 1000), deps.logger);
  const recordHandler = async (record: SQSRecord): Promise<void> => {
    // A body that is not a task message is poison: failing it sends it, in time, to the DLQ.
    const { body: message } = TaskRecordSchema.parse(record);
    const outcome = await processTask(deps, message, deps.options);
    if (outcome.kind === 'retry') {
      hold.retryAfter(record, outcome.afterMs);
      throw new RetryLaterError(`task ${message.taskId} will be retried`);
    }
  };
  try {
    return await fifoBatchHandler(recordHandler)(event, context);
  } finally {
    await hold.stop();
  }
};

export const createHandler = (rawEnv: Env, aws: AwsClientConfig = {}) => {
  const observability = createObservability('worker', rawEnv);
  const env = readEnv(WorkerEnvSchema, rawEnv);
  const quotas = env[ENV.quotas];
  const workflows = workflowEngine(env[ENV.workflows], aws, observability.tracer);
  const agents = deploymentAgents({ builtIns: env[ENV.enabledAgents], connectors: env[ENV.connectors], secretsFile: env[ENV.secretsFile], tasksTable: env[ENV.tasksTable] }, aws, observability.logger, observability.tracer);
  // Sensitive task data sealed with the data keys (locally: the local key file); absent CLASSIFICATIONS: none.
  const sealing = taskSealing(envelopeSettings(env[ENV.classifications], rawEnv), aws, observability.tracer);
  const inner = makeHandler({
      tasks: auditedTasks(tasksRepository(env[ENV.tasksTable], aws, observability.tracer, sealing), env[ENV.auditTable], 'worker', observability.logger, aws, observability.tracer),
      agents,
      clock: systemClock,
      logger: observability.logger,
      telemetry: observability.telemetry,
      ...(quotas ? { quota: tenantQuota(env[ENV.tasksTable], quotas, aws, observability.tracer) } : {}),
      ...(workflows ? { workflows } : {}),
      ...(env[ENV.pullCapabilities]?.length ? { pullCapabilities: env[ENV.pullCapabilities] } : {}),
      visibility: new SqsMessageVisibility(sqsClient(aws, observability.tracer)),
      options: { maxAttempts: env[ENV.maxAttempts], leaseMs: env[ENV.leaseMs] },
    });
  // Downstream MCP servers are discovered before the first batch (and retried later if one was down).
  return instrument(async (event: SQSEvent, context: Context) => (await agents.ready(), inner(event, context)), observability);
};

export const handler = lambdaEntry(() => createHandler(process.env));
