import * as z from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqsMessageVisibility } from '../../lambdas/adapters/sqs-visibility';
import { toAgent } from '../../lambdas/agents/agent';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { PRIORITIES, type Priority } from '../../lambdas/contracts';
import { systemClock } from '../../lambdas/domain/ports';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { makeHandler as makeWorker } from '../../lambdas/worker/handler';
import { startQueuePoller } from '../../bin/local-cloud/event-sources';
import { countingInvoker } from '../../bin/harness/counting-invoker';
import { startEmulatedPlatform, type EmulatedPlatform } from '../../bin/harness/emulated-platform';
import { principal, silentLogger } from '../../bin/harness/in-memory';

let env: EmulatedPlatform;
beforeAll(async () => {
  env = await startEmulatedPlatform();
});
afterAll(() => env?.stop());

/** When each run of the test agent started and ended, by its input's label (`<tenant>-<priority>-<n>`). */
const runs = new Map<string, { startedAt: number; endedAt?: number }>();

/** A test-only agent (not in the shipped registry): works 50–100 ms. */
const workAgent = toAgent({
  manifest: { name: 'work', timeoutSeconds: 5, permissions: [] },
  description: 'Works 50–100 ms (test only).',
  input: z.object({ label: z.string(), ms: z.number() }).strict(),
  output: z.object({ label: z.string() }).strict(),
  run: async ({ label, ms }) => {
    const run: { startedAt: number; endedAt?: number } = { startedAt: Date.now() };
    runs.set(label, run);
    await new Promise((resolve) => setTimeout(resolve, ms));
    run.endedAt = Date.now();
    return { label };
  },
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('priority with teeth: each priority consumed under its own concurrency budget', () => {
  it('runs every critical task of tenant B before half of tenant A\'s 1,000-task low flood has drained, and B\'s normal tasks too', async () => {
    const deps = { tasks: env.tasks, queue: env.queue, agents: new StaticAgentRegistry([workAgent]), clock: systemClock, logger: silentLogger };
    const worker = makeWorker({ ...deps, visibility: new SqsMessageVisibility(env.sqs), options: { maxAttempts: 3, leaseMs: 10_000 } });
    // The local cloud's own pollers, built from the template's mappings, invoking the real worker
    // handler; counts the invocations each queue runs at once.
    const { functions, mostAtOnce } = countingInvoker(worker);
    const sources = Object.fromEntries(
      PRIORITIES.map((p) => [p, env.platform.eventSources.find((s) => s.queueUrl === env.queueUrls[p])!]),
    ) as Record<Priority, (typeof env.platform.eventSources)[number]>;
    const a = principal('flooding-tenant');
    const b = principal('urgent-tenant');
    const submit = (tenant: typeof a, priority: Priority, n: number) =>
      submitTask(deps, tenant, { capability: 'work', priority, input: { label: `${tenant.tenantId}-${priority}-${n}`, ms: 50 + (n % 51) } });

    // A's flood is queued first (25 submits at a time), then the pollers start on it.
    for (let n = 0; n < 1_000; n += 25) await Promise.all(Array.from({ length: 25 }, (_, i) => submit(a, 'low', n + i)));
    const pollers = PRIORITIES.map((p) => startQueuePoller(sources[p], functions, env.sqs, env.config.primaryRegion, () => undefined));
    const flood = () => [...runs.keys()].filter((label) => label.startsWith('flooding-tenant-'));
    while (flood().length < 20) await sleep(10);

    // Then B submits 20 critical and 20 normal tasks, while A's backlog is still nearly whole.
    await Promise.all([...Array.from({ length: 20 }, (_, n) => submit(b, 'critical', n)), ...Array.from({ length: 20 }, (_, n) => submit(b, 'normal', n))]);
    const urgent = () => [...runs.entries()].filter(([label, run]) => label.startsWith('urgent-tenant-') && run.endedAt !== undefined);
    const started = Date.now();
    while (urgent().length < 40 && Date.now() - started < 30_000) await sleep(20);
    const floodEnded = flood().map((label) => runs.get(label)!.endedAt).filter((t): t is number => t !== undefined).sort((x, y) => x - y);
    await Promise.all(pollers.map((p) => p.stop()));

    const lastStart = (priority: Priority) =>
      Math.max(...[...runs.entries()].filter(([label]) => label.startsWith(`urgent-tenant-${priority}-`)).map(([, run]) => run.startedAt));
    const floodEndedBy = (time: number) => floodEnded.filter((t) => t <= time).length;
    expect(urgent()).toHaveLength(40);
    expect(floodEndedBy(lastStart('critical'))).toBeLessThan(500);
    expect(floodEndedBy(lastStart('normal'))).toBeLessThan(500);
    // The budgets are the template's: low never ran more invocations at once than its mapping allows.
    expect(sources.low.maxConcurrency).toBe(env.config.worker.concurrency.low);
    expect(mostAtOnce.get(sources.low.queueArn)).toBe(sources.low.maxConcurrency);
    expect(mostAtOnce.get(sources.critical.queueArn)).toBeLessThanOrEqual(sources.critical.maxConcurrency);
  }, 60_000);
});
