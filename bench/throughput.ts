/**
 * `npm run bench -- --throughput`: echo tasks end to end through the local cloud (`npm start`
 * in-process: the local API Gateway, authorizer, gateway function, SQS and DynamoDB emulators,
 * event source pollers under the template's budgets, the worker): `--clients` MCP clients (v2 SDK,
 * 2026-07-28) submit `--tasks` tasks as fast as they are answered, and the run ends when every task
 * has succeeded. The bench tenant is put on a tier wide enough not to be throttled (quotas are
 * measured elsewhere). Everything shares this process's cores with the clients.
 */
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbTaskRepository } from '../lambdas/adapters/dynamodb-task-repository';
import { startLocalCloud } from '../bin/local-cloud/cloud';
import { connectV2 } from '../bin/harness/mcp-clients';

const TENANT = 'bench-throughput';

export const throughputBench = async (tasks: number, clients: number) => {
  const cloud = await startLocalCloud({
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), 'switchboard-throughput-')),
    inMemory: true,
    log: () => undefined,
    adjustConfig: (config) => ({
      ...config,
      quotas: {
        ...config.quotas,
        tiers: {
          ...config.quotas.tiers,
          bench: { submitsPerSecond: 10_000, burst: 10_000, maxInFlight: 1_000_000, requestsPerSecond: config.api.throttlingRateLimit, requestBurst: config.api.throttlingBurstLimit },
        },
        tenants: { ...config.quotas.tenants, [TENANT]: 'bench' },
      },
    }),
  });
  try {
    const token = await cloud.token({ tenant: TENANT, roles: ['submitter'] });
    const connections = await Promise.all(Array.from({ length: clients }, () => connectV2(cloud.mcpUrl, token, '2026-07-28')));
    const repository = new DynamoDbTaskRepository(new DynamoDBClient(cloud.aws.dynamodb!), cloud.platform.tables[0]!);
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();

    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      connections.map(async (client) => {
        while (next < tasks) {
          next += 1;
          const sent = performance.now();
          const result = await client.callTool('submit_task', { capability: 'echo', input: { n: next } });
          if (result.isError) throw new Error(`submit refused: ${JSON.stringify(result.content)}`);
          latencies.push(performance.now() - sent);
        }
      }),
    );
    const submitted = performance.now();
    for (;;) {
      let succeeded = 0;
      let cursor: string | undefined;
      do {
        const page = await repository.list(TENANT, { status: 'succeeded', limit: 100, ...(cursor ? { cursor } : {}) });
        succeeded += page.tasks.length;
        cursor = page.nextCursor;
      } while (cursor);
      if (succeeded >= tasks) break;
      if (performance.now() - submitted > 120_000) throw new Error(`only ${succeeded} of ${tasks} tasks succeeded in 120 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const finished = performance.now();
    lag.disable();
    await Promise.all(connections.map((c) => c.close()));

    const sorted = latencies.sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
    console.log(`\n# Echo tasks end to end through the local cloud (${tasks} tasks, ${clients} clients, ${availableParallelism()} cores, Node ${process.version})\n`);
    console.log('| measure | value |');
    console.log('|---|---|');
    console.log(`| submits/s (all answered) | ${(tasks / ((submitted - started) / 1000)).toFixed(0)} |`);
    console.log(`| submit latency p50 / p99 ms | ${pct(50).toFixed(1)} / ${pct(99).toFixed(1)} |`);
    console.log(`| tasks/s, first submit → last succeeded | ${(tasks / ((finished - started) / 1000)).toFixed(0)} |`);
    console.log(`| drain after the last submit, s | ${((finished - submitted) / 1000).toFixed(2)} |`);
    console.log(`| event-loop lag p99 ms | ${(lag.percentile(99) / 1e6).toFixed(0)} |`);
  } finally {
    await cloud.stop();
  }
};
