import middy, { type MiddlewareObj } from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

/**
 * Powertools' `logMetrics` middleware, minus its warning on every invocation that stored no
 * metric: `publishStoredMetrics()` warns "No application metrics to publish" whenever the buffer
 * is empty, which it always is here (the cold start and the task events are single metrics,
 * emitted at once). So: the cold-start metric before the handler, and a flush after it (or after
 * it throws) only when something was stored.
 */
const publishMetrics = (metrics: Metrics): MiddlewareObj => {
  const flush = async () => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  };
  return {
    before: async (request) => metrics.captureColdStartMetric(request.context.functionName),
    after: flush,
    onError: flush,
  };
};

/**
 * Wraps a handler with the Powertools middlewares every Switchboard function uses: the Lambda
 * context in the logs, the invocation traced, metrics flushed (with a cold-start metric).
 */
export const instrument = <E, R>(
  handler: (event: E, context: Context) => Promise<R>,
  observability: { logger: Logger; tracer: Tracer; metrics: Metrics },
) =>
  middy(handler)
    .use(injectLambdaContext(observability.logger))
    .use(captureLambdaHandler(observability.tracer))
    .use(publishMetrics(observability.metrics));

/**
 * The Lambda entry: builds the function from `process.env` on the first invocation, once per
 * container, so importing a handler module (as the local cloud and tests do) reads no environment.
 */
export const lambdaEntry = <E, R>(create: () => (event: E, context: Context) => Promise<R>) => {
  let built: ((event: E, context: Context) => Promise<R>) | undefined;
  return (event: E, context: Context): Promise<R> => (built ??= create())(event, context);
};

/**
 * An SQS FIFO batch handler with partial batch responses. The batch's message groups run
 * concurrently; the records of one group run one after another, in batch order, and a record
 * that throws fails the rest of its group (they come back after it, in order) while the other
 * groups go on. (Powertools' SqsFifoPartialProcessorAsync keeps the same per-group rule but runs
 * the whole batch one record at a time.) Records without a MessageGroupId form one group.
 */
export const fifoBatchHandler =
  (recordHandler: (record: SQSRecord) => Promise<void>) =>
  async (event: SQSEvent, _context?: Context): Promise<SQSBatchResponse> => {
    const groups = new Map<string, SQSRecord[]>();
    for (const record of event.Records) {
      const group = record.attributes?.MessageGroupId ?? '';
      groups.set(group, [...(groups.get(group) ?? []), record]);
    }
    const failed = new Set<SQSRecord>();
    await Promise.all(
      [...groups.values()].map(async (records) => {
        for (const [index, record] of records.entries()) {
          try {
            await recordHandler(record);
          } catch {
            for (const unprocessed of records.slice(index)) failed.add(unprocessed);
            return;
          }
        }
      }),
    );
    return { batchItemFailures: event.Records.filter((r) => failed.has(r)).map((r) => ({ itemIdentifier: r.messageId })) };
  };
