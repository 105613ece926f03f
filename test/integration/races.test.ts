import { ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { IdempotencyConflictError, InvalidTransitionError } from '../../lambdas/domain/errors';
import { taskIdFor } from '../../lambdas/domain/ids';
import type { Agent, TaskRepository, TaskTelemetry } from '../../lambdas/domain/ports';
import type { Priority } from '../../lambdas/domain/task';
import { cancelTask } from '../../lambdas/domain/use-cases/cancel-task';
import { redispatchPending } from '../../lambdas/domain/use-cases/dispatch';
import { processTask } from '../../lambdas/domain/use-cases/process-task';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { makeHandler as makeWorker } from '../../lambdas/worker/handler';
import { lambdaContext } from '../../bin/harness/api-gateway-fetch';
import { startEmulatedPlatform, type EmulatedPlatform } from '../../bin/harness/emulated-platform';
import { ManualClock, principal, silentLogger, TerminalEvents } from '../../bin/harness/in-memory';
import { DyingRepository, ProcessDied } from '../../bin/harness/dying-repository';

/**
 * Racing clients and crashes on the emulators (dynalite + fauxqs, the real adapters): every
 * acknowledged task reaches exactly one terminal state, and idempotency keys hold under load.
 */



let env: EmulatedPlatform;
beforeAll(async () => {
  env = await startEmulatedPlatform();
});
afterAll(() => env?.stop());

const visibility = { set: async () => undefined };
const deps = (tasks: TaskRepository, clock: ManualClock, telemetry: TaskTelemetry, agents: Agent[] = [echoAgent]) => ({
  tasks, queue: env.queue, agents: new StaticAgentRegistry(agents), clock, logger: silentLogger, telemetry, visibility,
});

/** Receives (and hides for 0 s, so the next receive sees them again) this tenant's messages of one priority. */
const receive = async (priority: Priority, tenantId: string): Promise<Message[]> => {
  const { Messages = [] } = await env.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: env.queueUrls[priority], MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 0, MessageSystemAttributeNames: ['All'] }),
  );
  return Messages.filter((m) => JSON.parse(m.Body!).tenantId === tenantId);
};
const asEvent = (messages: Message[], priority: Priority): SQSEvent => ({
  Records: messages.map((m) => ({
    messageId: m.MessageId!, receiptHandle: m.ReceiptHandle!, body: m.Body!, attributes: m.Attributes as never,
    messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: `arn:aws:sqs:us-east-1:0:${priority}.fifo`, awsRegion: 'us-east-1',
  })),
});

describe('racing clients', () => {
  it('100 identical submits with one idempotency key, while the worker runs the task: every caller gets its id, one task, one terminal state', async () => {
    const clock = new ManualClock(new Date());
    const telemetry = new TerminalEvents();
    const d = deps(env.tasks, clock, telemetry);
    const submit = () => submitTask(d, principal('race-same'), { capability: 'echo', input: { n: 1 }, priority: 'high', idempotencyKey: 'k-1' });
    const first = { taskId: taskIdFor('race-same', 'k-1') };
    // The worker races the submits from the start: it claims the task as soon as it exists.
    const worker = (async () => {
      for (let i = 0; i < 1000 && (await env.tasks.get('race-same', first.taskId))?.status !== 'succeeded'; i += 1) {
        await processTask(d, { tenantId: 'race-same', taskId: first.taskId, priority: 'high' }, { maxAttempts: 3, leaseMs: 30_000 });
      }
    })();
    const results = await Promise.allSettled(Array.from({ length: 100 }, submit));
    await worker;
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(new Set(results.map((r) => (r as PromiseFulfilledResult<{ taskId: string }>).value.taskId))).toEqual(new Set([first.taskId]));
    const listed = await env.tasks.list('race-same', { limit: 100 });
    expect(listed.tasks.map((t) => t.taskId)).toEqual([first.taskId]);
    expect(listed.tasks[0]).toMatchObject({ status: 'succeeded', attempts: 1, dispatchPending: false });
    expect(telemetry.byTask.get(first.taskId)).toEqual(['succeeded']);
  });

  it('100 submits with one key and different inputs: exactly one caller gets the id, the others IDEMPOTENCY_CONFLICT', async () => {
    const d = deps(env.tasks, new ManualClock(new Date()), new TerminalEvents());
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, (_, n) => submitTask(d, principal('race-diff'), { capability: 'echo', input: { n }, idempotencyKey: 'k-2' })),
    );
    const created = results.filter((r) => r.status === 'fulfilled');
    expect(created).toHaveLength(1);
    const stored = (await env.tasks.list('race-diff', { limit: 10 })).tasks;
    expect(stored.map((t) => t.taskId)).toEqual([(created[0] as PromiseFulfilledResult<{ taskId: string }>).value.taskId]);
    for (const r of results.filter((r) => r.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(IdempotencyConflictError);
    // The winner's own input is what was stored.
    const winner = results.indexOf(created[0]!);
    expect(stored[0]!.input).toEqual({ n: winner });
  });

  it('cancel racing the worker: each task ends exactly once, and the caller is told which way', async () => {
    const clock = new ManualClock(new Date());
    const telemetry = new TerminalEvents();
    const d = deps(env.tasks, clock, telemetry);
    const views = await Promise.all(
      Array.from({ length: 20 }, (_, n) => submitTask(d, principal('race-cancel'), { capability: 'echo', input: n, priority: 'low' })),
    );
    const outcomes = await Promise.all(
      views.map(async (view) => {
        const [cancelled] = await Promise.allSettled([
          cancelTask(d, principal('race-cancel'), { taskId: view.taskId }),
          processTask(d, { tenantId: 'race-cancel', taskId: view.taskId, priority: 'low' }, { maxAttempts: 3, leaseMs: 30_000 }),
        ]);
        return { view, cancelled };
      }),
    );
    for (const { view, cancelled } of outcomes) {
      const task = (await env.tasks.get('race-cancel', view.taskId))!;
      if (cancelled.status === 'fulfilled') {
        expect(task).toMatchObject({ status: 'cancelled' });
        expect(task.result).toBeUndefined();
      } else {
        expect(cancelled.reason).toBeInstanceOf(InvalidTransitionError);
        expect(task).toMatchObject({ status: 'succeeded' });
      }
      expect(telemetry.byTask.get(view.taskId)).toHaveLength(1);
    }
  });
});

describe('a crash between any two writes: the task still ends exactly once', () => {
  // The writes of one task's life: create, confirm dispatch, claim, succeed.
  for (const dieBefore of [1, 2, 3, 4]) {
    it(`the process dies before write ${dieBefore}; the client's retry, the reconciler and redelivery finish the task`, async () => {
      const tenant = `crash-${dieBefore}`;
      const clock = new ManualClock(new Date());
      const telemetry = new TerminalEvents();
      const dying = deps(new DyingRepository(env.tasks, (w) => w.writes === dieBefore), clock, telemetry);
      const healthy = deps(env.tasks, clock, telemetry);
      const request = { capability: 'echo', input: { tenant }, priority: 'critical' as const, idempotencyKey: 'once' };

      // The first process: submit, then work its queue; it dies at the chosen write.
      let acknowledged: string | undefined;
      try {
        acknowledged = (await submitTask(dying, principal(tenant), request)).taskId;
        await makeWorker({ ...dying, options: { maxAttempts: 3, leaseMs: 30_000 } })(asEvent(await receive('critical', tenant), 'critical'), lambdaContext);
      } catch (error) {
        expect(error).toBeInstanceOf(ProcessDied);
      }
      // Recovery, as on AWS: the client retries an unanswered submit with its key, the reconciler
      // re-sends unconfirmed dispatches, the message comes back after the lease.
      const retried = (await submitTask(healthy, principal(tenant), request)).taskId;
      if (acknowledged) expect(retried).toBe(acknowledged);
      const worker = makeWorker({ ...healthy, options: { maxAttempts: 3, leaseMs: 30_000 } });
      for (let round = 0; round < 5; round += 1) {
        if ((await env.tasks.get(tenant, retried))?.status === 'succeeded') break;
        clock.advance(31_000);
        await redispatchPending(healthy, { olderThanMs: 30_000, limit: 100 });
        const messages = await receive('critical', tenant);
        if (messages.length) await worker(asEvent(messages, 'critical'), lambdaContext);
      }
      const tasks = (await env.tasks.list(tenant, { limit: 10 })).tasks;
      expect(tasks.map((t) => t.taskId)).toEqual([retried]);
      expect(tasks[0]).toMatchObject({ status: 'succeeded', result: { tenant }, dispatchPending: false });
      expect(tasks[0]!.attempts).toBeLessThanOrEqual(2);
      expect(telemetry.byTask.get(retried)).toEqual(['succeeded']);
    });
  }
});
