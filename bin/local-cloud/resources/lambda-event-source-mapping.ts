import { propertiesOf, type ResourceHandler } from './resource-handler';

/**
 * A mapping without ScalingConfig: on AWS its pollers scale up by themselves; locally it runs one
 * invocation at a time (every mapping of this app sets its own maximum).
 */
export const UNSCALED_CONCURRENCY = 1;

/**
 * `AWS::Lambda::EventSourceMapping` from an SQS queue → a local queue poller (event-sources.ts):
 * queue, function, batch size, maximum concurrency, and whether the function reports partial
 * batch failures.
 */
export const lambdaEventSourceMapping = {
  type: 'AWS::Lambda::EventSourceMapping',
  phase: 'wire',
  provision: (ctx, mappings) => {
    for (const mapping of mappings) {
      const p = propertiesOf(mapping);
      const queueArn = ctx.resolver.string(mapping.stackName, p['EventSourceArn']);
      const queueUrl = [...ctx.platform.queues.values()].find((url) => url.endsWith(`/${queueArn.split(':').pop()}`));
      if (!queueUrl) throw new Error(`local cloud: event source ${queueArn} is not a local queue`);
      ctx.platform.eventSources.push({
        queueUrl,
        queueArn,
        functionName: ctx.resolver.string(mapping.stackName, p['FunctionName']),
        batchSize: Number(p['BatchSize'] ?? 10),
        maxConcurrency: Number((p['ScalingConfig'] as { MaximumConcurrency?: unknown } | undefined)?.MaximumConcurrency ?? UNSCALED_CONCURRENCY),
        reportBatchItemFailures: ((p['FunctionResponseTypes'] as string[] | undefined) ?? []).includes('ReportBatchItemFailures'),
      });
    }
  },
} satisfies ResourceHandler;
