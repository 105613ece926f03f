/**
 * `npm run bench -- --cost`: one-step echo tasks end to end through the local cloud (an MCP
 * client submits, then polls get_task until succeeded), counting every AWS request by kind
 * (bin/local-cloud/cost-meter.ts), and projecting the cost of a million such tasks at the list
 * prices below (us-east-1; dated, sources in docs/performance.md).
 */
import { GetExecutionHistoryCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { executionArnOf } from '../lambdas/adapters/sfn-workflow-engine';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalCloud } from '../bin/local-cloud/cloud';
import { CostMeter, difference, parseIndexKind, PLATFORM_CALLER, type MeterReading } from '../bin/local-cloud/cost-meter';
import { connectV2, waitForTerminal, type ToolClient } from '../bin/harness/mcp-clients';

/** us-east-1 list prices, USD, as of PRICES_AS_OF (docs/performance.md names the pages). */
export const PRICES_AS_OF = '2026-11-26';
export const PRICES = {
  lambdaRequest: 0.2 / 1e6,
  lambdaGbSecondArm: 0.0000133334,
  apiGatewayRestRequest: 3.5 / 1e6,
  sqsFifoRequest: 0.5 / 1e6,
  dynamoDbWriteUnit: 0.625 / 1e6,
  dynamoDbReadUnit: 0.125 / 1e6,
  kmsRequest: 0.03 / 1e4,
  stepFunctionsStandardTransition: 0.025 / 1e3,
  stepFunctionsExpressRequest: 1 / 1e6,
  /** Express duration, per GB-second (billed per 100 ms, memory in 64 MB chunks). */
  stepFunctionsExpressGbSecond: 0.00001667,
};

/** The three-step workflow the workflow mode runs: three echo steps in sequence (Express by the type rule). */
const THREE_STEPS_YAML = `name: three-steps
description: Three echo steps in sequence (the cost bench's workflow).
steps:
  - id: first
    capability: echo
    input: { n: $.input.n }
    timeoutSeconds: 5
  - id: second
    capability: echo
    input: { previous: $.steps.first.output }
    timeoutSeconds: 5
  - id: third
    capability: echo
    input: { previous: $.steps.second.output }
    timeoutSeconds: 5
`;
const DYNAMODB_WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

/** Callers whose requests are no task's: the schedule runs whether tasks come or not. */
const FIXED_CALLERS = [/reconciler/i];

const scale = (reading: MeterReading, factor: number): MeterReading => ({
  requests: Object.fromEntries(Object.entries(reading.requests).map(([k, v]) => [k, v * factor])),
  capacity: Object.fromEntries(Object.entries(reading.capacity).map(([k, v]) => [k, v * factor])),
  indexCapacity: Object.fromEntries(Object.entries(reading.indexCapacity).map(([k, v]) => [k, v * factor])),
  indexCapacityByIndex: Object.fromEntries(Object.entries(reading.indexCapacityByIndex).map(([k, v]) => [k, v * factor])),
  invocations: Object.fromEntries(Object.entries(reading.invocations).map(([k, v]) => [k, { ...v, count: v.count * factor, ms: v.ms * factor }])),
  apiRequests: reading.apiRequests * factor,
});
const minus = (a: MeterReading, b: MeterReading) => difference(a, b);

/** One row per kind of request: what a task asks for, and what a million tasks cost. */
const project = (perTask: MeterReading) => {
  const rows: { kind: string; perTask: number; unit: string; dollars: number }[] = [];
  const fixed = (caller: string) => FIXED_CALLERS.some((re) => re.test(caller));
  rows.push({ kind: 'API Gateway REST requests', perTask: perTask.apiRequests, unit: '$3.50/M', dollars: perTask.apiRequests * PRICES.apiGatewayRestRequest });
  for (const [name, inv] of Object.entries(perTask.invocations)) {
    if (fixed(name)) continue;
    const role = name.replace(/^Switchboard-\w+-/, '').replace(/[A-F0-9]{8,}$/i, '');
    const billedMs = Math.ceil(inv.ms / inv.count); // Lambda bills each invocation by the millisecond, rounded up
    const gbSeconds = inv.count * (inv.memoryMb / 1024) * (billedMs / 1000);
    rows.push({ kind: `Lambda ${role}: invocations`, perTask: inv.count, unit: '$0.20/M', dollars: inv.count * PRICES.lambdaRequest });
    rows.push({
      kind: `Lambda ${role}: GB-s (${inv.memoryMb} MB × ${billedMs} ms)`,
      perTask: gbSeconds,
      unit: '$0.0000133334/GB-s',
      dollars: gbSeconds * PRICES.lambdaGbSecondArm,
    });
  }
  const sqs = new Map<string, number>();
  let readUnits = 0;
  let writeUnits = 0;
  let indexUnits = 0;
  for (const [kind, count] of Object.entries(perTask.requests)) {
    const [caller, service, operation] = kind.split(' ').length > 3 && kind.startsWith(PLATFORM_CALLER)
      ? [PLATFORM_CALLER, ...kind.slice(PLATFORM_CALLER.length + 1).split(' ')]
      : kind.split(' ');
    if (fixed(caller!) || kind.endsWith('(empty)')) continue;
    if (service === 'SQS') sqs.set(`${operation} (${caller})`, (sqs.get(`${operation} (${caller})`) ?? 0) + count);
    if (service === 'DynamoDB') {
      const units = perTask.capacity[kind] ?? 0;
      if (DYNAMODB_WRITES.has(operation!)) writeUnits += units;
      else readUnits += units;
      indexUnits += perTask.indexCapacity[kind] ?? 0;
    }
  }
  for (const [kind, count] of sqs) rows.push({ kind: `SQS FIFO ${kind}`, perTask: count, unit: '$0.50/M', dollars: count * PRICES.sqsFifoRequest });
  rows.push({ kind: 'DynamoDB write units, table (emulator)', perTask: writeUnits, unit: '$0.625/M', dollars: writeUnits * PRICES.dynamoDbWriteUnit });
  rows.push({ kind: "DynamoDB write units, indexes (from the template's projections)", perTask: indexUnits, unit: '$0.625/M', dollars: indexUnits * PRICES.dynamoDbWriteUnit });
  rows.push({ kind: 'DynamoDB read units (emulator)', perTask: readUnits, unit: '$0.125/M', dollars: readUnits * PRICES.dynamoDbReadUnit });
  return rows;
};

const printReading = (title: string, reading: MeterReading, per: number) => {
  console.log(`\n${title}\n`);
  console.log('| kind | per task |');
  console.log('|---|---|');
  console.log(`| API Gateway requests | ${(reading.apiRequests / per).toFixed(2)} |`);
  for (const [name, inv] of Object.entries(reading.invocations).sort()) {
    console.log(`| invoke ${name} | ${(inv.count / per).toFixed(2)} (mean ${(inv.ms / inv.count).toFixed(1)} ms, ${inv.memoryMb} MB) |`);
  }
  for (const [kind, count] of Object.entries(reading.requests).sort()) {
    const units = reading.capacity[kind];
    const indexUnits = reading.indexCapacity[kind];
    const byIndex = Object.entries(reading.indexCapacityByIndex)
      .map(([key, v]) => ({ ...parseIndexKind(key), v }))
      .filter((entry) => entry.kind === kind)
      .sort((a, b) => a.indexName.localeCompare(b.indexName))
      .map(({ indexName, v }) => `${indexName} ${(v / per).toFixed(2)}`);
    const notes = [
      ...(units ? [`${(units / per).toFixed(2)} capacity units`] : []),
      ...(indexUnits ? [`index write units ${(indexUnits / per).toFixed(2)}: ${byIndex.join(', ')}`] : []),
    ];
    console.log(`| ${kind} | ${(count / per).toFixed(2)}${notes.length ? ` (${notes.join('; ')})` : ''} |`);
  }
  const perIndex = new Map<string, number>();
  for (const [key, v] of Object.entries(reading.indexCapacityByIndex)) {
    const { indexName } = parseIndexKind(key);
    perIndex.set(indexName, (perIndex.get(indexName) ?? 0) + v);
  }
  for (const [indexName, v] of [...perIndex].sort(([a], [b]) => a.localeCompare(b))) {
    console.log(`| index ${indexName}: write units, all writes | ${(v / per).toFixed(2)} |`);
  }
};

export const costBench = async (tasks: number, lanes = 1, mode: 'task' | 'workflow' = 'task') => {
  const meter = new CostMeter();
  const workflowsDir = mkdtempSync(join(tmpdir(), 'switchboard-cost-workflows-'));
  writeFileSync(join(workflowsDir, 'three-steps.yaml'), THREE_STEPS_YAML);
  const cloud = await startLocalCloud({
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), 'switchboard-cost-')),
    inMemory: true,
    meter,
    log: () => undefined,
    ...(mode === 'workflow' ? { adjustConfig: (config) => ({ ...config, workflowsDir }) } : {}),
  });
  try {
    const client = await connectV2(cloud.mcpUrl, await cloud.token({ tenant: 'bench', roles: ['submitter'] }), '2026-07-28');
    let polls = 0;
    const counting: ToolClient = {
      ...client,
      callTool: (name, args) => {
        if (name === 'get_task') polls += 1;
        return client.callTool(name, args);
      },
    };
    const run = async (count: number) => {
      let next = 0;
      const ids: string[] = [];
      await Promise.all(
        Array.from({ length: lanes }, async () => {
          while (next < count) {
            next += 1;
            const { taskId } = (
              mode === 'task'
                ? await counting.callTool('submit_task', { capability: 'echo', input: { n: next } })
                : await counting.callTool('start_workflow', { workflow: 'three-steps', input: { n: next } })
            ).structuredContent as { taskId: string };
            const task = await waitForTerminal(counting, taskId);
            if (task.status !== 'succeeded') throw new Error(`task ${taskId} ${task.status}`);
            ids.push(taskId);
          }
        }),
      );
      return ids;
    };
    const warm = await run(lanes); // module load, queue URL lookups: once per container, not per task

    const before = meter.snapshot();
    polls = 0;
    const measuredIds = await run(tasks);
    const measured = minus(meter.snapshot(), before);
    const pollsDuring = polls;

    // The client's polling, separated: a get_task on a finished task, measured alone, times the
    // polls beyond the one that reads the result.
    const quiet = meter.snapshot();
    const samples = 20;
    for (let i = 0; i < samples; i += 1) await client.callTool('get_task', { taskId: warm[i % warm.length]! });
    const perPoll = scale(minus(meter.snapshot(), quiet), 1 / samples);
    const extraPolls = pollsDuring - tasks;
    const perTask = scale(minus(measured, scale(perPoll, extraPolls)), 1 / tasks);
    let stateMachine: { type: string; transitions: number; ms: number } | undefined;
    await client.close();

    const what = mode === 'task' ? 'one-step task' : 'three-step workflow run';
    if (mode === 'workflow') {
      // Step Functions, from the executions' histories: transitions (what Standard bills) and duration (Express).
      const sfn = new SFNClient(cloud.aws.stepfunctions);
      const machine = cloud.platform.stateMachines.find((m) => m.name.includes('ThreeSteps'))!;
      let transitions = 0;
      let ms = 0;
      const { executions = [] } = await sfn.send(new ListExecutionsCommand({ stateMachineArn: machine.arn, maxResults: 1000 }));
      const arnOf = new Map(executions.map((e) => [e.name, e.executionArn]));
      for (const taskId of measuredIds) {
        const { events = [] } = await sfn.send(new GetExecutionHistoryCommand({ executionArn: arnOf.get(taskId) ?? executionArnOf(machine.arn, taskId), maxResults: 1000 }));
        transitions += events.filter((e) => e.type?.endsWith('StateEntered')).length;
        ms += events.at(-1)!.timestamp!.getTime() - events[0]!.timestamp!.getTime();
      }
      stateMachine = { type: machine.type, transitions: transitions / measuredIds.length, ms: ms / measuredIds.length };
    }
    console.log(`\n# What a ${what} costs: ${tasks} echo tasks through npm start (${lanes === 1 ? 'one client, one task at a time' : `${lanes} clients side by side`}), prices ${PRICES_AS_OF}, us-east-1`);
    printReading(
      `Requests per ${mode === 'task' ? 'task' : 'run'}, by caller and kind (its own: the submit or start, the worker, ${mode === 'task' ? '' : 'the steps, '}one get_task that reads the result; ${extraPolls} further polls (${(extraPolls / tasks).toFixed(1)} a task) taken out at the per-poll cost measured on its own)`,
      perTask,
      1,
    );
    printReading('One further get_task poll', perPoll, 1);
    const rows = project(perTask);
    if (stateMachine) {
      const billedMs = Math.ceil(stateMachine.ms / 100) * 100;
      const express = PRICES.stepFunctionsExpressRequest + (64 / 1024) * (billedMs / 1000) * PRICES.stepFunctionsExpressGbSecond;
      const standard = stateMachine.transitions * PRICES.stepFunctionsStandardTransition;
      rows.push(
        stateMachine.type === 'EXPRESS'
          ? { kind: `Step Functions Express: 1 request + 64 MB × ${billedMs} ms (as Standard: ${stateMachine.transitions.toFixed(0)} transitions, $${(standard * 1e6).toFixed(2)}/M)`, perTask: 1, unit: '$1.00/M + $0.00001667/GB-s', dollars: express }
          : { kind: `Step Functions Standard: ${stateMachine.transitions.toFixed(0)} state transitions`, perTask: stateMachine.transitions, unit: '$0.025/1000', dollars: standard },
      );
    }
    const total = rows.reduce((sum, r) => sum + r.dollars, 0);
    console.log(`\n$ per million ${what}s\n`);
    console.log(`| kind | per ${mode === 'task' ? 'task' : 'run'} | price | $/M | share |`);
    console.log('|---|---|---|---|---|');
    for (const r of [...rows].sort((a, b) => b.dollars - a.dollars)) {
      console.log(`| ${r.kind} | ${r.perTask.toFixed(r.perTask < 0.1 ? 4 : 2)} | ${r.unit} | ${(r.dollars * 1e6).toFixed(2)} | ${((100 * r.dollars) / total).toFixed(0)}% |`);
    }
    console.log(`| **total** | | | **${(total * 1e6).toFixed(2)}** | |`);
    const pollDollars = project(perPoll).reduce((sum, r) => sum + r.dollars, 0);
    console.log(`\nEach further poll: $${(pollDollars * 1e6).toFixed(2)} per million polls. Not counted per task (fixed, see docs/performance.md): the reconciler's schedule, idle long polls, KMS.`);
  } finally {
    await cloud.stop();
  }
};
