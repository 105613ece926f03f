import { ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import type { Priority } from '../../lambdas/domain/task';
import { getTask } from '../../lambdas/domain/use-cases/read-tasks';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { makeHandler as makeReconciler } from '../../lambdas/reconciler/handler';
import { makeHandler as makeWorker } from '../../lambdas/worker/handler';
import { lambdaContext } from '../../bin/harness/api-gateway-fetch';
import { startEmulatedPlatform, type EmulatedPlatform } from '../../bin/harness/emulated-platform';
import { ManualClock, principal, silentLogger, TerminalEvents } from '../../bin/harness/in-memory';

/**
 * Aging on the emulators: a low task older than low's SLA is promoted to normal by the reconciler's
 * escalator, sent to the normal queue with a new deduplication id; the worker discards its old
 * message from the low queue and runs it once from the normal one; get_task shows the change.
 */

let env: EmulatedPlatform;
beforeAll(async () => {
  env = await startEmulatedPlatform();
});
afterAll(() => env?.stop());

const telemetry = new TerminalEvents();
const clock = new ManualClock(new Date());
const deps = () => ({ tasks: env.tasks, queue: env.queue, agents: new StaticAgentRegistry([echoAgent]), clock, logger: silentLogger, telemetry, visibility: { set: async () => undefined } });
const agingMs = { high: 60_000, normal: 300_000, low: 900_000 };

const receiveFrom = async (priority: Priority, taskId: string): Promise<Message[]> => {
  const { Messages = [] } = await env.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: env.queueUrls[priority], MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 0, MessageSystemAttributeNames: ['All'] }),
  );
  return Messages.filter((m) => m.Body?.includes(taskId));
};
const asEvent = (priority: Priority, messages: Message[]): SQSEvent => ({
  Records: messages.map((m) => ({
    messageId: m.MessageId!, receiptHandle: m.ReceiptHandle!, body: m.Body!, attributes: m.Attributes as never,
    messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: `arn:aws:sqs:us-east-1:0:${priority}.fifo`, awsRegion: 'us-east-1',
  })),
});

describe('aging on the emulators', () => {
  it('a low task older than its SLA is promoted to normal, its old message discarded, it succeeds once, get_task shows the change', async () => {
    const { taskId } = await submitTask(deps(), principal('aging-a'), { capability: 'echo', input: { n: 1 }, priority: 'low' });
    const reconciler = makeReconciler(deps(), agingMs);
    expect(await reconciler({} as never)).toMatchObject({ promoted: 0 });

    clock.advance(agingMs.low + 1000);
    const fresh = (await submitTask(deps(), principal('aging-b'), { capability: 'echo', input: 3, priority: 'low' })).taskId;
    const run = await reconciler({} as never);
    expect(run.promoted).toBe(1);
    const promoted = await env.tasks.get('aging-a', taskId);
    expect(promoted).toMatchObject({ status: 'queued', priority: 'normal', dispatchPending: false });
    expect((await env.tasks.get('aging-b', fresh))?.priority).toBe('low');

    const stale = await receiveFrom('low', taskId);
    const moved = await receiveFrom('normal', taskId);
    expect(stale).toHaveLength(1);
    expect(moved).toHaveLength(1);
    expect(moved[0]!.Attributes).toMatchObject({ MessageDeduplicationId: `${taskId}.p-normal` });

    const worker = makeWorker({ ...deps(), options: { maxAttempts: 3, leaseMs: 30_000 } });
    expect(await worker(asEvent('low', stale), lambdaContext)).toEqual({ batchItemFailures: [] });
    expect((await env.tasks.get('aging-a', taskId))?.status).toBe('queued');
    expect(await worker(asEvent('normal', moved), lambdaContext)).toEqual({ batchItemFailures: [] });
    expect(await worker(asEvent('low', stale), lambdaContext)).toEqual({ batchItemFailures: [] });
    expect(await env.tasks.get('aging-a', taskId)).toMatchObject({ status: 'succeeded', attempts: 1, result: { n: 1 } });
    expect(telemetry.byTask.get(taskId)).toEqual(['succeeded']);

    const view = await getTask(deps(), principal('aging-a'), { taskId });
    expect(view).toMatchObject({ status: 'succeeded', priority: 'normal', priorityChanges: [{ from: 'low', to: 'normal', reason: 'aged', at: clock.now().toISOString() }] });
    // The next run finds nothing more of this task to promote.
    await reconciler({} as never);
    expect((await env.tasks.get('aging-a', taskId))?.priority).toBe('normal');
  });
});
