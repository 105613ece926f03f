import { ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { messageGroupOf } from '../../lambdas/domain/message-group';
import type { TaskRepository } from '../../lambdas/domain/ports';
import { redispatchPending } from '../../lambdas/domain/use-cases/dispatch';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import type { Priority } from '../../lambdas/domain/task';
import { makeHandler as makeWorker } from '../../lambdas/worker/handler';
import { makeHandler as makeDeadLetterHandler } from '../../lambdas/dead-letter/handler';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { ENV } from '../../lambdas/contracts';
import { lambdaContext } from '../../bin/harness/api-gateway-fetch';
import { startEmulatedPlatform, type EmulatedPlatform } from '../../bin/harness/emulated-platform';
import { ManualClock, principal, silentLogger } from '../../bin/harness/in-memory';
import { DyingRepository, ProcessDied } from '../../bin/harness/dying-repository';


let env: EmulatedPlatform;
beforeAll(async () => {
  env = await startEmulatedPlatform();
});
afterAll(() => env?.stop());

const receive = async (priority: Priority, visibilityTimeout = 0): Promise<Message[]> =>
  (
    await env.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: env.queueUrls[priority],
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: visibilityTimeout,
        MessageSystemAttributeNames: ['All'],
      }),
    )
  ).Messages ?? [];

const asEvent = (messages: Message[], priority: Priority): SQSEvent => ({
  Records: messages.map((m) => ({
    messageId: m.MessageId!, receiptHandle: m.ReceiptHandle!, body: m.Body!, attributes: m.Attributes as never,
    messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: `arn:aws:sqs:us-east-1:0:${priority}.fifo`, awsRegion: 'us-east-1',
  })),
});

/** The worker's visibility changes are checked on their own below; here they are recorded only. */
const visibility = { set: async () => undefined };

const deps = (tasks: TaskRepository, clock = new ManualClock(new Date())) => ({
  tasks, queue: env.queue, agents: new StaticAgentRegistry([echoAgent]), clock, logger: silentLogger, visibility,
});

describe('task path on the emulators', () => {
  it('puts the message on the queue of its priority, in its message group, deduplicated by task id', async () => {
    const view = await submitTask(deps(env.tasks), principal('fifo-tenant'), { capability: 'echo', input: 1, priority: 'critical' });
    const [message] = await receive('critical');
    expect(JSON.parse(message!.Body!)).toEqual({ tenantId: 'fifo-tenant', taskId: view.taskId, priority: 'critical' });
    expect(message!.Attributes).toMatchObject({
      MessageGroupId: messageGroupOf({ tenantId: 'fifo-tenant', taskId: view.taskId }),
      MessageDeduplicationId: view.taskId,
    });
  });

  it('runs a submitted task through the worker handler to succeeded, and a redelivery changes nothing', async () => {
    const d = deps(env.tasks);
    const view = await submitTask(d, principal('worker-tenant'), { capability: 'echo', input: { ping: 1 }, priority: 'low' });
    const worker = makeWorker({ ...d, options: { maxAttempts: 3, leaseMs: 30_000 } });
    const messages = await receive('low');
    expect(await worker(asEvent(messages, 'low'), lambdaContext)).toEqual({ batchItemFailures: [] });
    const done = await env.tasks.get('worker-tenant', view.taskId);
    expect(done).toMatchObject({ status: 'succeeded', result: { ping: 1 }, attempts: 1 });
    expect(await worker(asEvent(messages, 'low'), lambdaContext)).toEqual({ batchItemFailures: [] });
    expect((await env.tasks.get('worker-tenant', view.taskId))?.version).toBe(done!.version);
  });

  it('reports a poison message as a batch item failure instead of failing the batch', async () => {
    const worker = makeWorker({ ...deps(env.tasks), options: { maxAttempts: 3, leaseMs: 30_000 } });
    const event = asEvent([{ MessageId: 'poison', ReceiptHandle: 'r', Body: '{"not":"a task"}', Attributes: { MessageGroupId: 'x' } }], 'high');
    expect(await worker(event, lambdaContext)).toEqual({ batchItemFailures: [{ itemIdentifier: 'poison' }] });
  });

  it('fails a task whose message reached its dead-letter queue, and drops a non-task body there', async () => {
    const view = await submitTask(deps(env.tasks), principal('dlq-tenant'), { capability: 'echo', input: 1, priority: 'low' });
    await receive('low'); // the worker never gets to it
    const dlqEnv = [...env.platform.functions.values()].find((f) => f.entry === 'lambdas/dead-letter/handler.ts')!;
    const dlqSource = env.platform.eventSources.find((s) => s.functionName === dlqEnv.name && s.queueArn.includes('LowDlq'))!;
    expect(dlqEnv.environment[ENV.tasksTable]).toBe(env.gatewayEnv[ENV.tasksTable]);
    for (const [body, id] of [[JSON.stringify({ tenantId: 'dlq-tenant', taskId: view.taskId, priority: 'low' }), view.taskId], ['garbage', 'garbage']]) {
      await env.sqs.send(new SendMessageCommand({ QueueUrl: dlqSource.queueUrl, MessageBody: body, MessageGroupId: 'dlq-tenant', MessageDeduplicationId: id }));
    }
    const messages = (
      await env.sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqSource.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['All'] }))
    ).Messages!;
    const handler = makeDeadLetterHandler({ tasks: env.tasks, clock: new ManualClock(new Date()), logger: silentLogger });
    expect(await handler(asEvent(messages, 'low'), lambdaContext)).toEqual({ batchItemFailures: [] });
    expect(await env.tasks.get('dlq-tenant', view.taskId)).toMatchObject({ status: 'failed', error: { code: 'DEAD_LETTERED' } });
  });

  describe('no acknowledged task is lost if the process dies between any two writes', () => {
    it('dies after the task write, before the queue send: the reconciler dispatches it, it succeeds once', async () => {
      const clock = new ManualClock(new Date());
      const dying = { ...deps(env.tasks, clock), queue: { send: async () => { throw new ProcessDied('process died'); } } };
      await expect(submitTask(dying, principal('crash-a'), { capability: 'echo', input: 'a', priority: 'high' })).rejects.toThrow(ProcessDied);
      const [orphan] = (await env.tasks.list('crash-a', { limit: 1 })).tasks;
      expect(orphan).toMatchObject({ status: 'queued', dispatchPending: true });

      clock.advance(60_000);
      expect(await redispatchPending(deps(env.tasks, clock), { olderThanMs: 30_000, limit: 100 })).toBeGreaterThanOrEqual(1);
      const messages = await receive('high');
      expect(messages.map((m) => JSON.parse(m.Body!).taskId)).toContain(orphan!.taskId);
      await makeWorker({ ...deps(env.tasks, clock), options: { maxAttempts: 3, leaseMs: 30_000 } })(asEvent(messages, 'high'), lambdaContext);
      expect(await env.tasks.get('crash-a', orphan!.taskId)).toMatchObject({ status: 'succeeded', result: 'a', dispatchPending: false });
    });

    it('dies after the queue send, before confirming it: the repeat send is deduplicated, the task runs once', async () => {
      const clock = new ManualClock(new Date());
      const dying = deps(new DyingRepository(env.tasks, (w) => w.kind === 'update' && w.updates === 1), clock);
      await expect(submitTask(dying, principal('crash-b'), { capability: 'echo', input: 'b', priority: 'normal' })).rejects.toThrow(ProcessDied);
      clock.advance(60_000);
      await redispatchPending(deps(env.tasks, clock), { olderThanMs: 30_000, limit: 100 });
      const messages = (await receive('normal')).filter((m) => JSON.parse(m.Body!).tenantId === 'crash-b');
      expect(messages).toHaveLength(1);
      await makeWorker({ ...deps(env.tasks, clock), options: { maxAttempts: 3, leaseMs: 30_000 } })(asEvent(messages, 'normal'), lambdaContext);
      const [task] = (await env.tasks.list('crash-b', { limit: 5 })).tasks;
      expect(task).toMatchObject({ status: 'succeeded', attempts: 1, dispatchPending: false });
    });

    it('dies after claiming, before the terminal write: the redelivery after the lease runs it to one terminal state', async () => {
      const clock = new ManualClock(new Date());
      const view = await submitTask(deps(env.tasks, clock), principal('crash-c'), { capability: 'echo', input: 'c', priority: 'critical' });
      const messages = (await receive('critical')).filter((m) => JSON.parse(m.Body!).tenantId === 'crash-c');
      const dyingWorker = makeWorker({ ...deps(new DyingRepository(env.tasks, (w) => w.kind === 'update' && w.updates === 2), clock), options: { maxAttempts: 3, leaseMs: 30_000 } });
      expect((await dyingWorker(asEvent(messages, 'critical'), lambdaContext)).batchItemFailures).toHaveLength(1);
      expect(await env.tasks.get('crash-c', view.taskId)).toMatchObject({ status: 'running', attempts: 1 });

      const worker = makeWorker({ ...deps(env.tasks, clock), options: { maxAttempts: 3, leaseMs: 30_000 } });
      expect((await worker(asEvent(messages, 'critical'), lambdaContext)).batchItemFailures).toHaveLength(1); // lease still held
      clock.advance(31_000);
      expect((await worker(asEvent(messages, 'critical'), lambdaContext)).batchItemFailures).toHaveLength(0);
      const task = await env.tasks.get('crash-c', view.taskId);
      expect(task).toMatchObject({ status: 'succeeded', attempts: 2, result: 'c' });
      await worker(asEvent(messages, 'critical'), lambdaContext);
      expect((await env.tasks.get('crash-c', view.taskId))?.version).toBe(task!.version);
    });
  });
});
