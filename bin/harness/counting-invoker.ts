import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { LocalFunctions } from '../local-cloud/functions';
import { lambdaContext } from './api-gateway-fetch';

/**
 * Stands in for the local cloud's functions when pollers drive one handler directly: invokes
 * `handler` with each batch and records, per queue (event source ARN), the most invocations that
 * ran at once, so a test or bench can compare it with the mapping's concurrency budget.
 */
export const countingInvoker = (handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>) => {
  const running = new Map<string, number>();
  const mostAtOnce = new Map<string, number>();
  const functions = {
    invoke: async (_name: string, event: SQSEvent) => {
      const arn = event.Records[0]!.eventSourceARN;
      running.set(arn, (running.get(arn) ?? 0) + 1);
      mostAtOnce.set(arn, Math.max(mostAtOnce.get(arn) ?? 0, running.get(arn)!));
      try {
        return await handler(event, lambdaContext);
      } finally {
        running.set(arn, running.get(arn)! - 1);
      }
    },
  } as unknown as LocalFunctions;
  return { functions, mostAtOnce };
};
