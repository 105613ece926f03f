import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqsMessageVisibility } from '../../lambdas/adapters/sqs-visibility';
import { toAgent, type AgentModule } from '../../lambdas/agents/agent';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { systemClock } from '../../lambdas/domain/ports';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { makeHandler as makeWorker } from '../../lambdas/worker/handler';
import { lambdaContext } from '../../bin/harness/api-gateway-fetch';
import { startEmulatedPlatform, type EmulatedPlatform } from '../../bin/harness/emulated-platform';
import { principal, silentLogger } from '../../bin/harness/in-memory';

let env: EmulatedPlatform;
beforeAll(async () => {
  env = await startEmulatedPlatform();
});
afterAll(() => env?.stop());

/** When each run of the test agent started and ended, by its input's label. */
const runs: { label: string; startedAt: number; endedAt: number }[] = [];
let running = 0;
let mostAtOnce = 0;

/** A test-only agent (not in the shipped registry): sleeps one second. */
const sleepModule: AgentModule<{ label: string }, { label: string }> = {
  manifest: { name: 'sleep', timeoutSeconds: 5, permissions: [] },
  description: 'Sleeps one second (test only).',
  input: z.object({ label: z.string() }).strict(),
  output: z.object({ label: z.string() }).strict(),
  run: async (input) => {
    const startedAt = Date.now();
    mostAtOnce = Math.max(mostAtOnce, (running += 1));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    running -= 1;
    runs.push({ label: input.label, startedAt, endedAt: Date.now() });
    return input;
  },
};

/**
 * Lambda's event source mapping, reduced: `pollers` loops at once, each receiving up to 10
 * messages from the real queue, invoking the real worker handler with them and deleting what
 * it did not report as failed.
 */
const startPollers = (worker: ReturnType<typeof makeWorker>, pollers: number) => {
  const source = env.platform.eventSources.find((s) => s.queueUrl === env.queueUrls.normal)!;
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      const { Messages = [] } = await env.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: source.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageSystemAttributeNames: ['All'] }),
      );
      if (Messages.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      const event: SQSEvent = {
        Records: Messages.map((m) => ({
          messageId: m.MessageId!, receiptHandle: m.ReceiptHandle!, body: m.Body!, attributes: m.Attributes as never,
          messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: source.queueArn, awsRegion: 'us-east-1',
        })),
      };
      const { batchItemFailures } = await worker(event, lambdaContext);
      const failed = new Set(batchItemFailures.map((f) => f.itemIdentifier));
      const done = Messages.filter((m) => !failed.has(m.MessageId!));
      if (done.length > 0) {
        await env.sqs.send(
          new DeleteMessageBatchCommand({ QueueUrl: source.queueUrl, Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }),
        );
      }
    }
  };
  const loops = Array.from({ length: pollers }, loop);
  return async () => {
    stopped = true;
    await Promise.all(loops);
  };
};

describe("a tenant's independent tasks run in parallel", () => {
  it('runs 50 one-second tasks of one tenant in under 5 s, while tasks that share an ordering key run in submission order', async () => {
    const deps = {
      tasks: env.tasks, queue: env.queue, agents: new StaticAgentRegistry([toAgent(sleepModule)]), clock: systemClock, logger: silentLogger,
    };
    const worker = makeWorker({ ...deps, visibility: new SqsMessageVisibility(env.sqs), options: { maxAttempts: 3, leaseMs: 10_000 } });
    const tenant = principal('parallel-tenant');
    const keys = ['order-a', 'order-b'];

    // Per ordering key, 3 tasks one after another (their submission order); 50 free tasks at once.
    const submitted = await Promise.all([
      ...keys.map(async (orderingKey) => {
        const ids: string[] = [];
        for (let n = 0; n < 3; n += 1) {
          ids.push((await submitTask(deps, tenant, { capability: 'sleep', input: { label: `${orderingKey}-${n}` }, orderingKey })).taskId);
        }
        return ids;
      }),
      ...Array.from({ length: 50 }, (_, n) =>
        submitTask(deps, tenant, { capability: 'sleep', input: { label: `free-${n}` } }).then((t) => [t.taskId]),
      ),
    ]);
    const taskIds = submitted.flat();

    // The clock starts once all are queued (one group per tenant, as before, needed 50 s from here for the free tasks).
    const started = Date.now();
    const stopPollers = startPollers(worker, 10);
    expect(taskIds).toHaveLength(56);

    while (runs.length < 56 && Date.now() - started < 20_000) await new Promise((resolve) => setTimeout(resolve, 50));
    await stopPollers();
    const free = runs.filter((r) => r.label.startsWith('free-'));
    const wallMs = Math.max(...free.map((r) => r.endedAt)) - started;

    const tasks = await Promise.all(taskIds.map((id) => env.tasks.get('parallel-tenant', id)));
    expect(tasks.map((t) => t?.status)).toEqual(taskIds.map(() => 'succeeded'));
    expect(free).toHaveLength(50);
    expect(wallMs).toBeLessThan(5_000);
    expect(mostAtOnce).toBeGreaterThanOrEqual(10);
    for (const orderingKey of keys) {
      const chain = runs.filter((r) => r.label.startsWith(`${orderingKey}-`)).sort((a, b) => a.startedAt - b.startedAt);
      expect(chain.map((r) => r.label)).toEqual([0, 1, 2].map((n) => `${orderingKey}-${n}`));
      for (let n = 1; n < chain.length; n += 1) expect(chain[n]!.startedAt).toBeGreaterThanOrEqual(chain[n - 1]!.endedAt);
    }
    expect(tasks.find((t) => t?.orderingKey === 'order-a')).toBeDefined();
  });
});
