import { DeleteMessageCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import type { TaskRepository } from '../../lambdas/domain/ports';
import type { Priority } from '../../lambdas/domain/task';
import { listTasks } from '../../lambdas/domain/use-cases/read-tasks';
import { redriveDeadLetters } from '../../lambdas/domain/use-cases/redrive-dead-letters';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { makeHandler as makeDeadLetterHandler } from '../../lambdas/dead-letter/handler';
import { makeHandler as makeWorker } from '../../lambdas/worker/handler';
import { lambdaContext } from '../../bin/harness/api-gateway-fetch';
import { startEmulatedPlatform, type EmulatedPlatform } from '../../bin/harness/emulated-platform';
import { ManualClock, principal, silentLogger, TerminalEvents } from '../../bin/harness/in-memory';
import { DyingRepository, ProcessDied } from '../../bin/harness/dying-repository';

/**
 * Poison message → dead-letter queue → DEAD_LETTERED → redrive → one terminal state, on the
 * emulators: the queue's own redrive policy (maxReceiveCount) moves the message, the real
 * dead-letter handler fails the task, the operator's redrive sends it again, the real worker runs it.
 */



let env: EmulatedPlatform;
beforeAll(async () => {
  env = await startEmulatedPlatform();
});
afterAll(() => env?.stop());

const PRIORITY: Priority = 'high';
const visibility = { set: async () => undefined };
const telemetry = new TerminalEvents();
const clock = new ManualClock(new Date());
const deps = (tasks: TaskRepository) => ({
  tasks, queue: env.queue, agents: new StaticAgentRegistry([echoAgent]), clock, logger: silentLogger, telemetry, visibility,
});
const workerOptions = { maxAttempts: 3, leaseMs: 30_000 };

const receiveFrom = async (queueUrl: string, taskId: string): Promise<Message[]> => {
  const { Messages = [] } = await env.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 0, MessageSystemAttributeNames: ['All'] }),
  );
  return Messages.filter((m) => m.Body?.includes(taskId));
};
const asEvent = (messages: Message[]): SQSEvent => ({
  Records: messages.map((m) => ({
    messageId: m.MessageId!, receiptHandle: m.ReceiptHandle!, body: m.Body!, attributes: m.Attributes as never,
    messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: `arn:aws:sqs:us-east-1:0:${PRIORITY}.fifo`, awsRegion: 'us-east-1',
  })),
});
const dlqUrl = () => {
  const handler = [...env.platform.functions.values()].find((f) => f.entry === 'lambdas/dead-letter/handler.ts')!;
  return env.platform.eventSources.find((s) => s.functionName === handler.name && s.queueArn.includes('HighDlq'))!.queueUrl;
};

/** A worker that dies on every delivery, until the queue's redrive policy moves the message to the DLQ; the dead-letter handler then fails the task. */
const deadLetter = async (taskId: string) => {
  const dyingWorker = makeWorker({ ...deps(new DyingRepository(env.tasks, (w) => w.kind === 'update')), options: workerOptions });
  for (let receives = 0; receives < 30; receives += 1) {
    const messages = await receiveFrom(env.queueUrls[PRIORITY], taskId);
    if (messages.length === 0) break;
    expect((await dyingWorker(asEvent(messages), lambdaContext)).batchItemFailures).toHaveLength(1);
  }
  const dead = await receiveFrom(dlqUrl(), taskId);
  expect(dead).toHaveLength(1);
  const handler = makeDeadLetterHandler(deps(env.tasks));
  expect(await handler(asEvent(dead), lambdaContext)).toEqual({ batchItemFailures: [] });
  // What the event source mapping does after a successful batch.
  await env.sqs.send(new DeleteMessageCommand({ QueueUrl: dlqUrl(), ReceiptHandle: dead[0]!.ReceiptHandle! }));
};

describe('dead letters and redrive on the emulators', () => {
  it('poison message → DLQ → DEAD_LETTERED → redrive → the worker runs it → one terminal state, listed once', async () => {
    const { taskId } = await submitTask(deps(env.tasks), principal('redrive-a'), { capability: 'echo', input: { n: 1 }, priority: PRIORITY });
    await deadLetter(taskId);
    expect(await env.tasks.get('redrive-a', taskId)).toMatchObject({ status: 'failed', error: { code: 'DEAD_LETTERED' } });
    telemetry.byTask.clear();

    // Another tenant's operator redrives it (within SQS's 5-minute deduplication window of the first send).
    const redriven = await redriveDeadLetters(deps(env.tasks), principal('platform', ['operator']), { priority: PRIORITY }, { anyTenant: true });
    expect(redriven.redriven).toContainEqual({ tenantId: 'redrive-a', taskId });
    const messages = await receiveFrom(env.queueUrls[PRIORITY], taskId);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.Attributes).toMatchObject({ MessageDeduplicationId: `${taskId}.redrive` });

    const worker = makeWorker({ ...deps(env.tasks), options: workerOptions });
    expect(await worker(asEvent(messages), lambdaContext)).toEqual({ batchItemFailures: [] });
    const done = await env.tasks.get('redrive-a', taskId);
    expect(done).toMatchObject({ status: 'succeeded', result: { n: 1 }, attempts: 1, dispatchPending: false });
    expect(telemetry.byTask.get(taskId)).toEqual(['succeeded']);

    // A redelivery and a second redrive change nothing; the task is listed once.
    await worker(asEvent(messages), lambdaContext);
    expect((await redriveDeadLetters(deps(env.tasks), principal('platform', ['operator']), { priority: PRIORITY }, { anyTenant: true })).redriven).not.toContainEqual({ tenantId: 'redrive-a', taskId });
    expect((await env.tasks.get('redrive-a', taskId))?.version).toBe(done!.version);
    const listed = (await listTasks(deps(env.tasks), principal('redrive-a'), { limit: 100 })).tasks.map((t) => t.taskId);
    expect(listed.filter((id) => id === taskId)).toHaveLength(1);
  });

  it('a redriven task dead-lettered again stays failed for good; an admin of another tenant cannot redrive it', async () => {
    const { taskId } = await submitTask(deps(env.tasks), principal('redrive-b'), { capability: 'echo', input: 2, priority: PRIORITY });
    await deadLetter(taskId);
    expect((await redriveDeadLetters(deps(env.tasks), principal('redrive-other', ['admin']), { priority: PRIORITY })).redriven).toEqual([]);
    expect((await redriveDeadLetters(deps(env.tasks), principal('redrive-b', ['admin']), { priority: PRIORITY })).redriven).toEqual([{ tenantId: 'redrive-b', taskId }]);

    await deadLetter(taskId);
    expect(await env.tasks.get('redrive-b', taskId)).toMatchObject({ status: 'failed', error: { code: 'DEAD_LETTERED', message: expect.stringMatching(/final$/) } });
    expect((await redriveDeadLetters(deps(env.tasks), principal('platform', ['operator']), { priority: PRIORITY }, { anyTenant: true })).redriven).toEqual([]);
    expect(await receiveFrom(env.queueUrls[PRIORITY], taskId)).toEqual([]);
  });
});
