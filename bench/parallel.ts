/**
 * `npm run bench -- --parallel`: tasks of one tenant on a one-second agent, end to end on the
 * emulators (submit → the local event source's poller → the real worker handler → succeeded),
 * with today's message groups against the old one group per tenant.
 */
import type { SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { SqsMessageVisibility } from '../lambdas/adapters/sqs-visibility';
import { toAgent } from '../lambdas/agents/agent';
import { StaticAgentRegistry } from '../lambdas/agents/registry';
import { systemClock, type TaskQueue } from '../lambdas/domain/ports';
import { submitTask } from '../lambdas/domain/use-cases/submit-task';
import { makeHandler as makeWorker } from '../lambdas/worker/handler';
import { startQueuePoller } from '../bin/local-cloud/event-sources';
import type { LocalFunctions } from '../bin/local-cloud/functions';
import { lambdaContext } from '../bin/harness/api-gateway-fetch';
import { startEmulatedPlatform } from '../bin/harness/emulated-platform';
import { principal, silentLogger } from '../bin/harness/in-memory';

const sleepAgent = toAgent({
  manifest: { name: 'sleep', timeoutSeconds: 5, permissions: [] },
  description: 'Sleeps one second (bench only).',
  input: z.unknown(),
  output: z.unknown(),
  run: (input) => new Promise((resolve) => setTimeout(() => resolve(input), 1_000)),
});

export const parallelBench = async (tasks: number) => {
  const env = await startEmulatedPlatform();
  try {
    const source = env.platform.eventSources.find((s) => s.queueUrl === env.queueUrls.normal)!;
    const deps = { tasks: env.tasks, agents: new StaticAgentRegistry([sleepAgent]), clock: systemClock, logger: silentLogger };
    const worker = makeWorker({ ...deps, visibility: new SqsMessageVisibility(env.sqs), options: { maxAttempts: 3, leaseMs: 10_000 } });
    const functions = { invoke: async (_name: string, event: SQSEvent) => worker(event, lambdaContext) } as unknown as LocalFunctions;
    /** Before: every task of a tenant in the tenant's one message group. */
    const oneGroupPerTenant: TaskQueue = { send: (message, priority, _group, deduplicationId) => env.queue.send(message, priority, message.tenantId, deduplicationId) };

    const run = async (label: string, queue: TaskQueue, count: number, pollers: number) => {
      const tenant = principal(`bench-${label.replace(/\W+/g, '-').toLowerCase()}`.slice(0, 60));
      const started = performance.now();
      // Each loop one invocation at a time, whatever the mapping's budget: the rows compare loops.
      const loops = Array.from({ length: pollers }, () => startQueuePoller({ ...source, maxConcurrency: 1 }, functions, env.sqs, 'us-east-1', () => undefined));
      const ids = await Promise.all(
        Array.from({ length: count }, async (_, n) => (await submitTask({ ...deps, queue }, tenant, { capability: 'sleep', input: n })).taskId),
      );
      for (;;) {
        const done = await Promise.all(ids.map((id) => env.tasks.get(tenant.tenantId, id)));
        if (done.every((t) => t?.status === 'succeeded')) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const seconds = (performance.now() - started) / 1000;
      await Promise.all(loops.map((l) => l.stop()));
      console.log(`| ${label} | ${count} | ${pollers} | ${seconds.toFixed(2)} | ${(count / seconds).toFixed(1)} |`);
    };

    console.log(`\n# One tenant's one-second tasks, submit → succeeded on the emulators (real worker, local event source pollers)\n`);
    console.log('| message groups | tasks | pollers | seconds | tasks/s |');
    console.log('|---|---|---|---|---|');
    await run('one per tenant (before)', oneGroupPerTenant, Math.min(tasks, 10), 1);
    await run('per task / ordering key', env.queue, tasks, 1);
    await run('per task / ordering key', env.queue, tasks, 5);
  } finally {
    await env.stop();
  }
};
