/**
 * `npm run bench -- --priority`: queue wait (submit answered → the agent starts) per priority on
 * the emulators, with the local event source pollers (each at its mapping's maximum concurrency,
 * from the template) and the real worker handler: idle, then under a 100:1 low flood of another
 * tenant. The goal: critical p99 under the flood at most 1.5× its idle p99.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as z from 'zod';
import { SqsMessageVisibility } from '../lambdas/adapters/sqs-visibility';
import { toAgent } from '../lambdas/agents/agent';
import { StaticAgentRegistry } from '../lambdas/agents/registry';
import { PRIORITIES, type Priority } from '../lambdas/contracts';
import { systemClock } from '../lambdas/domain/ports';
import { submitTask } from '../lambdas/domain/use-cases/submit-task';
import { makeHandler as makeWorker } from '../lambdas/worker/handler';
import { startQueuePoller } from '../bin/local-cloud/event-sources';
import { countingInvoker } from '../bin/harness/counting-invoker';
import { startEmulatedPlatform } from '../bin/harness/emulated-platform';
import { principal, silentLogger } from '../bin/harness/in-memory';

/** When each task's agent started, by its input's label. */
const startedAt = new Map<string, number>();
const workAgent = toAgent({
  manifest: { name: 'work', timeoutSeconds: 5, permissions: [] },
  description: 'Works 50–100 ms (bench only).',
  input: z.object({ label: z.string(), ms: z.number() }).strict(),
  output: z.unknown(),
  run: async ({ label, ms }) => {
    startedAt.set(label, Date.now());
    await new Promise((resolve) => setTimeout(resolve, ms));
    return null;
  },
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export const priorityBench = async (probesPerPriority: number) => {
  const env = await startEmulatedPlatform();
  const deps = { tasks: env.tasks, queue: env.queue, agents: new StaticAgentRegistry([workAgent]), clock: systemClock, logger: silentLogger };
  const worker = makeWorker({ ...deps, visibility: new SqsMessageVisibility(env.sqs), options: { maxAttempts: 3, leaseMs: 10_000 } });
  /** Per queue, the most invocations that ran at once: below the budget, no message waited for a slot. */
  const { functions, mostAtOnce } = countingInvoker(worker);
  const sources = PRIORITIES.map((p) => env.platform.eventSources.find((s) => s.queueUrl === env.queueUrls[p])!);
  const pollers = sources.map((s) => startQueuePoller(s, functions, env.sqs, env.config.primaryRegion, () => undefined));
  let seq = 0;
  const lagP99: Record<string, number> = {};
  const submit = async (tenant: ReturnType<typeof principal>, priority: Priority) => {
    const label = `${tenant.tenantId}-${priority}-${(seq += 1)}`;
    await submitTask(deps, tenant, { capability: 'work', priority, input: { label, ms: 50 + (seq % 51) } });
    return { label, priority, submittedAt: Date.now() };
  };

  /** Probes of every priority, interleaved, one every 25 ms; their queue waits per priority. */
  const probe = async (phase: string, waitFor: readonly Priority[]) => {
    const tenant = principal(`probe-${phase}`);
    // Everything here (emulators, worker, pollers) shares one event loop: its lag is CPU contention, not queueing.
    const lag = monitorEventLoopDelay({ resolution: 5 });
    lag.enable();
    const probes: Awaited<ReturnType<typeof submit>>[] = [];
    for (let n = 0; n < probesPerPriority; n += 1) {
      for (const priority of PRIORITIES) {
        probes.push(await submit(tenant, priority));
        await sleep(25);
      }
    }
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && probes.some((p) => waitFor.includes(p.priority) && !startedAt.has(p.label))) await sleep(20);
    lag.disable();
    lagP99[phase] = lag.percentile(99) / 1e6;
    return Object.fromEntries(
      PRIORITIES.map((priority) => {
        const waits = probes
          .filter((p) => p.priority === priority && startedAt.has(p.label))
          .map((p) => startedAt.get(p.label)! - p.submittedAt)
          .sort((a, b) => a - b);
        return [priority, waits];
      }),
    ) as Record<Priority, number[]>;
  };

  try {
    const { concurrency, batchSize } = env.config.worker;
    console.log(
      `\n# Queue wait per priority (submit answered → agent starts), 50–100 ms tasks, emulators + local pollers; budgets ${PRIORITIES.map((p) => `${p} ${concurrency[p]}`).join(', ')} × batch ${batchSize}\n`,
    );
    const idle = await probe('idle', PRIORITIES);

    // A 100:1 flood: another tenant's low tasks, 100 for each critical probe, queued at once.
    const floodTenant = principal('flood');
    const floodSize = 100 * probesPerPriority;
    for (let n = 0; n < floodSize; n += 50) await Promise.all(Array.from({ length: Math.min(50, floodSize - n) }, () => submit(floodTenant, 'low')));
    const flooded = await probe('flood', ['critical', 'high', 'normal']);

    console.log(`| priority | idle p50 ms | idle p99 ms | flood p50 ms | flood p99 ms | p99 flood / idle | most invocations at once / budget |`);
    console.log('|---|---|---|---|---|---|---|');
    for (const priority of PRIORITIES) {
      const [i, f] = [idle[priority], flooded[priority]];
      const cell = (waits: number[], p: number) => (waits.length > 0 ? String(percentile(waits, p)) : '—');
      const ratio = i.length > 0 && f.length > 0 ? `${(percentile(f, 99) / Math.max(1, percentile(i, 99))).toFixed(2)}×` : '—';
      const note = f.length < probesPerPriority ? ` (${f.length}/${probesPerPriority} started while measured: behind the ${floodSize}-task flood in its own lane)` : '';
      console.log(`| ${priority} | ${cell(i, 50)} | ${cell(i, 99)} | ${cell(f, 50)} | ${cell(f, 99)}${note} | ${ratio} | ${mostAtOnce.get(sources[PRIORITIES.indexOf(priority)]!.queueArn) ?? 0} / ${concurrency[priority]} |`);
    }
    console.log(`\nEvent-loop lag p99 (one process runs the emulators, the worker and the pollers): idle ${lagP99['idle']!.toFixed(0)} ms, flood ${lagP99['flood']!.toFixed(0)} ms`);
  } finally {
    // Stopping waits for in-flight invocations only; the rest of the flood stays queued in the discarded emulators.
    await Promise.all(pollers.map((p) => p.stop()));
    await env.stop();
  }
};
