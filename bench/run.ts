#!/usr/bin/env node
/**
 * Measures the MCP gateway handler in-process (API Gateway event in, proxy result out, in-memory
 * ports) for each era side by side, then, with --http, the local cloud end to end, and with
 * --parallel, one tenant's one-second tasks on the emulators (bench/parallel.ts), with --priority,
 * queue wait per priority idle and under a low flood (bench/priority.ts), and with --cost,
 * the AWS requests of a one-step task and their price per million tasks (bench/cost.ts), and with
 * --throughput, echo tasks per second end to end through the local cloud (bench/throughput.ts), and with
 * --policy, the access policy's load and per-decision time (bench/policy.ts).
 * Bounded: a fixed number of requests, loopback only.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readProjectConfig, synthesizeBundles } from '../bin/local-cloud/synth';
import { costBench } from './cost';
import { parallelBench } from './parallel';
import { priorityBench } from './priority';
import { policyBench } from './policy';
import { throughputBench } from './throughput';
import { PROJECT_ROOT } from '../lib/constructs/switchboard-function';
import { apiGatewayFetch } from '../bin/harness/api-gateway-fetch';
import { principal } from '../bin/harness/in-memory';
import { gatewayWithFakes } from '../bin/harness/in-memory-gateway';
import { startLocalCloudProcess } from '../bin/harness/local-cloud-process';
import { connectV1, connectV2, waitForTerminal, type Era } from '../bin/harness/mcp-clients';
import { TASKS_EXTENSION } from '../lambdas/contracts/mcp-tasks';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    http: { type: 'boolean' },
    tasks: { type: 'string', default: '30' },
    bundles: { type: 'boolean' },
    parallel: { type: 'boolean' },
    priority: { type: 'boolean' },
    policy: { type: 'boolean' },
    cost: { type: 'boolean' },
    throughput: { type: 'boolean' },
    workflow: { type: 'boolean' },
    clients: { type: 'string', default: '16' },
  },
});
const N = Number(values.requests);

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const summarize = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean: samples.reduce((a, b) => a + b, 0) / samples.length };
};

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' },
};
/** The 2026 envelope of a client that declares the MCP tasks extension (docs/protocol.md, "MCP tasks"). */
const TASKS_META = { ...META, 'io.modelcontextprotocol/clientCapabilities': { extensions: { [TASKS_EXTENSION]: {} } } };
const request = (era: Era, method: string, params: Record<string, unknown>, name?: string, meta: Record<string, unknown> = META) => ({
  headers: {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...(era === '2026-07-28' ? { 'mcp-protocol-version': era, 'mcp-method': method, ...(name ? { 'mcp-name': name } : {}) } : {}),
  },
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: era === '2026-07-28' ? { ...params, _meta: meta } : params }),
});

/** What a case needs besides its params: a task to read first (`@@TASK@@` in params and name), the tasks extension declared. */
interface CaseOptions {
  withTask?: boolean;
  tasksExtension?: boolean;
}

const inProcess = async (era: Era, label: string, method: string, template: Record<string, unknown>, nameTemplate?: string, options: CaseOptions = {}) => {
  const { handler } = gatewayWithFakes();
  const fetch = apiGatewayFetch(handler, principal());
  let taskId = '';
  if (options.withTask) {
    const seed = request('2025-11-25', 'tools/call', { name: 'submit_task', arguments: { capability: 'echo', input: { n: 0 } } });
    const answer = (await (await fetch('https://x.example/mcp', { method: 'POST', ...seed })).json()) as { result: { structuredContent: { taskId: string } } };
    taskId = answer.result.structuredContent.taskId;
  }
  const params = JSON.parse(JSON.stringify(template).replaceAll('@@TASK@@', taskId)) as Record<string, unknown>;
  const name = nameTemplate?.replaceAll('@@TASK@@', taskId);
  const { headers, body } = request(era, method, params, name, options.tasksExtension ? TASKS_META : META);
  for (let i = 0; i < 200; i += 1) await fetch('https://x.example/mcp', { method: 'POST', headers, body }); // warm-up
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const samples: number[] = [];
  const started = performance.now();
  for (let i = 0; i < N; i += 1) {
    const t = performance.now();
    const response = await fetch('https://x.example/mcp', { method: 'POST', headers, body });
    if (response.status !== 200) throw new Error(`${label} ${era}: HTTP ${response.status} ${await response.text()}`);
    const text = await response.text();
    if (i === 0) {
      const answer = JSON.parse(text) as { error?: unknown; result?: { isError?: boolean } };
      if (answer.error || answer.result?.isError) throw new Error(`${label} ${era}: ${text.slice(0, 300)}`);
    }
    samples.push(performance.now() - t);
  }
  const seconds = (performance.now() - started) / 1000;
  return { label, era, ...summarize(samples), rps: N / seconds, heapMb: (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20 };
};

/** Each deployed bundle: its size, and how long a fresh Node process takes to load it (the init part of a cold start). */
const bundles = () => {
  const built = synthesizeBundles(readProjectConfig());
  console.log('\n# Lambda bundles (esbuild, minified CJS): size and module load time, 7 fresh processes each\n');
  console.log('| function | bundle KiB | load p50 ms | load min ms |');
  console.log('|---|---|---|---|');
  for (const [entry, file] of built) {
    const samples = Array.from({ length: 7 }, () =>
      Number(
        execFileSync(process.execPath, ['-e', `const t = performance.now(); require(${JSON.stringify(file)}); process.stdout.write(String(performance.now() - t));`], {
          // The Lambda runtime provides the AWS SDK v3 the bundles leave out; here node_modules does.
          env: { ...process.env, NODE_PATH: join(PROJECT_ROOT, 'node_modules') },
          stdio: ['ignore', 'pipe', 'ignore'],
        }).toString(),
      ),
    );
    const s = summarize(samples);
    console.log(`| ${entry} | ${(statSync(file).size / 1024).toFixed(0)} | ${s.p50.toFixed(0)} | ${Math.min(...samples).toFixed(0)} |`);
  }
};

const main = async () => {
  console.log(`# MCP gateway handler, in-process (${N} sequential requests each, Node ${process.version})\n`);
  console.log('| request | era | p50 ms | p99 ms | req/s | heap growth MB | p50 vs 2025 |');
  console.log('|---|---|---|---|---|---|---|');
  const submit = { name: 'submit_task', arguments: { capability: 'echo', input: { n: 1 } } };
  // Each pair in one run: 2025 and 2026; MCP tasks beside the tools they stand for (a poll: get_task vs tasks/get).
  const cases: [string, string, Record<string, unknown>, string?, CaseOptions?, Record<string, unknown>?][] = [
    ['tools/list', 'tools/list', {}],
    ['submit_task', 'tools/call', submit, 'submit_task'],
    // 2025 asks with params.task, 2026 with the extension declared in the envelope.
    ['submit_task as an MCP task', 'tools/call', submit, 'submit_task', { tasksExtension: true }, { ...submit, task: { ttl: 60_000 } }],
    ['get_task (a poll)', 'tools/call', { name: 'get_task', arguments: { taskId: '@@TASK@@' } }, 'get_task', { withTask: true }],
    ['tasks/get (a poll)', 'tasks/get', { taskId: '@@TASK@@' }, '@@TASK@@', { withTask: true, tasksExtension: true }],
  ];
  for (const [label, method, params, name, options, legacyParams] of cases) {
    const legacy = await inProcess('2025-11-25', label, method, legacyParams ?? params, name, options);
    const modern = await inProcess('2026-07-28', label, method, params, name, options);
    for (const row of [legacy, modern]) {
      console.log(
        `| ${row.label} | ${row.era} | ${row.p50.toFixed(3)} | ${row.p99.toFixed(3)} | ${row.rps.toFixed(0)} | ${row.heapMb.toFixed(1)} | ${(row.p50 / legacy.p50).toFixed(2)}× |`,
      );
    }
  }

  if (values.bundles) bundles();
  if (values.parallel) await parallelBench(Number(values.tasks));
  if (values.priority) await priorityBench(20);
  if (values.policy) await policyBench();
  if (values.cost) await costBench(Number(values.tasks), 1, values.workflow ? 'workflow' : 'task');
  if (values.throughput) await throughputBench(Number(values.tasks), Number(values.clients));
  if (!values.http) return;
  const tasks = Number(values.tasks);
  console.log(`\n# npm start, over HTTP on loopback: submit → succeeded (${tasks} tasks per client, sequential)\n`);
  console.log('| client | p50 ms | p99 ms | mean ms |');
  console.log('|---|---|---|---|');
  const cloud = await startLocalCloudProcess();
  try {
    const token = await cloud.token('bench', 'submitter');
    const clients: [string, () => ReturnType<typeof connectV1>][] = [
      ['v1 SDK, 2025-11-25', () => connectV1(cloud.mcpUrl, token)],
      ['v2 SDK, 2026-07-28', () => connectV2(cloud.mcpUrl, token, '2026-07-28')],
    ];
    for (const [name, connect] of clients) {
      const client = await connect();
      const samples: number[] = [];
      for (let i = 0; i < tasks; i += 1) {
        const t = performance.now();
        const { taskId } = (await client.callTool('submit_task', { capability: 'echo', input: i })).structuredContent as { taskId: string };
        await waitForTerminal(client, taskId);
        samples.push(performance.now() - t);
      }
      const s = summarize(samples);
      console.log(`| ${name} | ${s.p50.toFixed(1)} | ${s.p99.toFixed(1)} | ${s.mean.toFixed(1)} |`);
      await client.close();
    }
  } finally {
    await cloud.stop();
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
