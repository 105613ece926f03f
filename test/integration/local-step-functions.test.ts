import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  InvalidToken,
  ListExecutionsCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StartSyncExecutionCommand,
  StateMachineDoesNotExist,
  StopExecutionCommand,
  TaskDoesNotExist,
  TaskTimedOut,
  type DescribeExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStepFunctions, type LocalStateMachine } from '../../bin/local-cloud/step-functions';

/**
 * The local Step Functions service through the real SFN client: ASL run by aws-local-stepfunctions, with the
 * callback API, heartbeats, timeouts, history and durable records filled in around it.
 */

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
const machineArn = (name: string) => `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`;
const functionArn = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;

class FlakyError extends Error {
  override name = 'FlakyError';
}

/** The fake Lambda functions; `notify` hands each task token it receives to the test. */
const flakyCalls: number[] = [];
const notified: { token: string; order: string }[] = [];
const functions: Record<string, (payload: unknown) => Promise<unknown>> = {
  double: async (p) => (p as { n: number }).n * 2,
  square: async (p) => (p as { n: number }).n ** 2,
  flaky: async () => {
    flakyCalls.push(Date.now());
    if (flakyCalls.length <= 2) throw new FlakyError(`attempt ${flakyCalls.length} failed`);
    return { ok: true };
  },
  broken: async () => {
    throw new Error('boom');
  },
  hang: () => new Promise(() => undefined),
  notify: async (p) => {
    notified.push(p as { token: string; order: string });
    return 'queued';
  },
};
const invoke = async (nameOrArn: string, payload: unknown) => {
  const fn = functions[nameOrArn.split(':').at(-1)!];
  if (!fn) throw new Error(`no function ${nameOrArn}`);
  return fn(payload);
};

const awaitApproval = (extra: object = {}) => ({
  StartAt: 'AwaitApproval',
  States: {
    AwaitApproval: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: { FunctionName: 'notify', Payload: { 'token.$': '$$.Task.Token', 'order.$': '$.order' } },
      End: true,
      ...extra,
    },
  },
});

const machines: LocalStateMachine[] = [
  {
    name: 'parallel-choice', type: 'STANDARD', arn: machineArn('parallel-choice'),
    definition: {
      StartAt: 'Compute',
      States: {
        Compute: {
          Type: 'Parallel', Next: 'Size',
          Branches: [
            { StartAt: 'Double', States: { Double: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: 'double', 'Payload.$': '$' }, ResultSelector: { 'value.$': '$.Payload' }, End: true } } },
            { StartAt: 'Square', States: { Square: { Type: 'Task', Resource: functionArn('square'), End: true } } },
          ],
        },
        Size: { Type: 'Choice', Choices: [{ Variable: '$[1]', NumericGreaterThan: 10, Next: 'Big' }], Default: 'Small' },
        Big: { Type: 'Pass', Result: 'big', End: true },
        Small: { Type: 'Pass', Result: 'small', End: true },
      },
    },
  },
  {
    name: 'retry', type: 'STANDARD', arn: machineArn('retry'),
    definition: {
      StartAt: 'CallFlaky',
      States: {
        CallFlaky: {
          Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: 'flaky' }, OutputPath: '$.Payload', End: true,
          Retry: [{ ErrorEquals: ['FlakyError'], IntervalSeconds: 10, BackoffRate: 2, MaxAttempts: 3 }],
        },
      },
    },
  },
  {
    name: 'catch', type: 'STANDARD', arn: machineArn('catch'),
    definition: {
      StartAt: 'CallBroken',
      States: {
        CallBroken: {
          Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: 'broken' }, End: true,
          Catch: [{ ErrorEquals: ['States.TaskFailed'], ResultPath: '$.error', Next: 'Fallback' }],
        },
        Fallback: { Type: 'Pass', End: true },
      },
    },
  },
  {
    name: 'timeout', type: 'STANDARD', arn: machineArn('timeout'),
    definition: {
      StartAt: 'Hang',
      States: {
        Hang: {
          Type: 'Task', Resource: functionArn('hang'), TimeoutSeconds: 1, End: true,
          // States.TaskFailed must not match States.Timeout: the second catcher takes it.
          Catch: [{ ErrorEquals: ['States.TaskFailed'], Next: 'Wrong' }, { ErrorEquals: ['States.Timeout'], ResultPath: '$.error', Next: 'TimedOut' }],
        },
        Wrong: { Type: 'Fail', Error: 'Wrong', Cause: 'States.TaskFailed caught a timeout' },
        TimedOut: { Type: 'Pass', End: true },
      },
    },
  },
  { name: 'approval', type: 'STANDARD', arn: machineArn('approval'), definition: awaitApproval() },
  { name: 'heartbeat', type: 'STANDARD', arn: machineArn('heartbeat'), definition: awaitApproval({ HeartbeatSeconds: 1, TimeoutSeconds: 30 }) },
  {
    name: 'map-wait', type: 'STANDARD', arn: machineArn('map-wait'), waitTimeOverrides: { Pause: 10 },
    definition: {
      StartAt: 'Check',
      States: {
        Check: { Type: 'Choice', Choices: [{ Variable: '$.items[0]', IsPresent: true, Next: 'EachItem' }], Default: 'Empty' },
        Empty: { Type: 'Fail', Error: 'NoItems', Cause: 'nothing to do' },
        EachItem: {
          Type: 'Map', ItemsPath: '$.items', Next: 'Finish',
          ItemProcessor: {
            StartAt: 'DoubleItem',
            States: {
              DoubleItem: { Type: 'Task', Resource: functionArn('double'), Parameters: { 'n.$': '$' }, Next: 'Pause' },
              Pause: { Type: 'Wait', Seconds: 60, Next: 'Done' },
              Done: { Type: 'Succeed' },
            },
          },
        },
        Finish: { Type: 'Succeed' },
      },
    },
  },
  { name: 'express', type: 'EXPRESS', arn: machineArn('express'), definition: { StartAt: 'Echo', States: { Echo: { Type: 'Pass', End: true } } } },
];

let sfn: LocalStepFunctions;
let client: SFNClient;
let endpoint: string;
const logged: string[] = [];

// StartSyncExecution is sent to `sync-<host>` unless host prefixes are off: no such host exists locally.
const clientFor = (url: string) =>
  new SFNClient({ endpoint: url, region: REGION, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, disableHostPrefix: true });

beforeAll(async () => {
  sfn = new LocalStepFunctions({ region: REGION, account: ACCOUNT, invoke, retryIntervalScale: 0.01, log: (line) => logged.push(line) });
  machines.forEach((m) => sfn.register(m));
  ({ endpoint } = await sfn.start());
  client = clientFor(endpoint);
});
afterAll(async () => {
  client?.destroy();
  await sfn?.stop();
});

const start = async (machine: string, input: object, name?: string, on = client) =>
  (await on.send(new StartExecutionCommand({ stateMachineArn: machineArn(machine), input: JSON.stringify(input), name }))).executionArn!;

const finished = async (executionArn: string, on = client): Promise<DescribeExecutionCommandOutput> => {
  for (let i = 0; i < 400; i++) {
    const described = await on.send(new DescribeExecutionCommand({ executionArn }));
    if (described.status !== 'RUNNING') return described;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${executionArn} still running`);
};

/** The token the `notify` function received for this order. */
const tokenFor = async (order: string): Promise<string> => {
  for (let i = 0; i < 200; i++) {
    const seen = notified.find((n) => n.order === order);
    if (seen) return seen.token;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no token for ${order}`);
};

const historyTypes = async (executionArn: string) =>
  ((await client.send(new GetExecutionHistoryCommand({ executionArn }))).events ?? []).map((e) => e.type);

describe('states and integrations', () => {
  it('runs a Parallel pair, then a Choice on its output', async () => {
    const big = await finished(await start('parallel-choice', { n: 5 }));
    const small = await finished(await start('parallel-choice', { n: 2 }));

    expect(big).toMatchObject({ status: 'SUCCEEDED', output: '"big"' });
    expect(small).toMatchObject({ status: 'SUCCEEDED', output: '"small"' });
    expect(big.startDate).toBeInstanceOf(Date);
    expect(big.stopDate!.getTime()).toBeGreaterThanOrEqual(big.startDate!.getTime());
  });

  it('retries a failing function with backoff, scaled, until it succeeds', async () => {
    flakyCalls.length = 0;
    const result = await finished(await start('retry', {}));

    expect(result).toMatchObject({ status: 'SUCCEEDED', output: '{"ok":true}' });
    expect(flakyCalls).toHaveLength(3);
    const [first, second] = [flakyCalls[1]! - flakyCalls[0]!, flakyCalls[2]! - flakyCalls[1]!];
    expect(first).toBeGreaterThanOrEqual(95); // 10 s × 0.01
    expect(second).toBeGreaterThanOrEqual(195); // × BackoffRate 2
    const types = await historyTypes(result.executionArn!);
    expect(types.filter((t) => t === 'TaskScheduled')).toHaveLength(3);
    expect(types.filter((t) => t === 'TaskFailed')).toHaveLength(2);
  });

  it('catches a function error as AWS names it and goes to the fallback', async () => {
    const result = await finished(await start('catch', { order: 'o-1' }));

    expect(result.status).toBe('SUCCEEDED');
    const output = JSON.parse(result.output!) as { order: string; error: { Error: string; Cause: string } };
    expect(output.order).toBe('o-1');
    expect(output.error.Error).toBe('Error');
    expect(JSON.parse(output.error.Cause)).toMatchObject({ errorType: 'Error', errorMessage: 'boom' });
  });

  it('times out a hanging Task after TimeoutSeconds with States.Timeout, which States.TaskFailed does not catch', async () => {
    const result = await finished(await start('timeout', {}));

    expect(result.status).toBe('SUCCEEDED');
    expect(JSON.parse(result.output!).error.Error).toBe('States.Timeout');
    expect(await historyTypes(result.executionArn!)).toContain('LambdaFunctionTimedOut');
  });

  it('maps over items with Wait and Succeed inside, and fails through a Fail state on empty input', async () => {
    const mapped = await finished(await start('map-wait', { items: [1, 2, 3] }));
    const empty = await finished(await start('map-wait', { items: [] }));

    expect(mapped).toMatchObject({ status: 'SUCCEEDED', output: '[2,4,6]' });
    expect(empty).toMatchObject({ status: 'FAILED', error: 'NoItems', cause: 'nothing to do' });
  });

  it('runs an EXPRESS machine synchronously, and refuses StartSyncExecution on a STANDARD one', async () => {
    const sync = await client.send(new StartSyncExecutionCommand({ stateMachineArn: machineArn('express'), input: '{"a":1}' }));

    expect(sync).toMatchObject({ status: 'SUCCEEDED', output: '{"a":1}' });
    await expect(client.send(new StartSyncExecutionCommand({ stateMachineArn: machineArn('approval') }))).rejects.toMatchObject({ name: 'StateMachineTypeNotSupported' });
  });
});

describe('task tokens', () => {
  it('waitForTaskToken resumes with the SendTaskSuccess output; the used token is then refused', async () => {
    const arn = await start('approval', { order: 'ok-1' });
    const token = await tokenFor('ok-1');
    expect((await client.send(new DescribeExecutionCommand({ executionArn: arn }))).status).toBe('RUNNING');

    await client.send(new SendTaskSuccessCommand({ taskToken: token, output: '{"approved":true}' }));

    expect(await finished(arn)).toMatchObject({ status: 'SUCCEEDED', output: '{"approved":true}' });
    await expect(client.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }))).rejects.toBeInstanceOf(TaskTimedOut);
    expect(await historyTypes(arn)).toEqual([
      'ExecutionStarted', 'TaskStateEntered', 'TaskScheduled', 'TaskStarted', 'TaskSubmitted', 'TaskSucceeded', 'TaskStateExited', 'ExecutionSucceeded',
    ]);
  });

  it('gives each Task entry its own unguessable token', async () => {
    await start('approval', { order: 'tok-a' });
    await start('approval', { order: 'tok-b' });
    const [a, b] = [await tokenFor('tok-a'), await tokenFor('tok-b')];

    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]{64}$/);
    await Promise.all([a, b].map((taskToken) => client.send(new SendTaskSuccessCommand({ taskToken, output: '{}' }))));
  });

  it('SendTaskFailure fails the execution with the given error and cause', async () => {
    const arn = await start('approval', { order: 'no-1' });

    await client.send(new SendTaskFailureCommand({ taskToken: await tokenFor('no-1'), error: 'Rejected', cause: 'over budget' }));

    expect(await finished(arn)).toMatchObject({ status: 'FAILED', error: 'Rejected', cause: 'over budget' });
  });

  it('a heartbeat keeps the Task alive; without the next one it fails with States.HeartbeatTimeout', async () => {
    const arn = await start('heartbeat', { order: 'hb-1' });
    const token = await tokenFor('hb-1');
    await new Promise((r) => setTimeout(r, 600));
    await client.send(new SendTaskHeartbeatCommand({ taskToken: token }));

    const result = await finished(arn);

    expect(result).toMatchObject({ status: 'FAILED', error: 'States.HeartbeatTimeout' });
    expect(result.stopDate!.getTime() - result.startDate!.getTime()).toBeGreaterThanOrEqual(1500);
    await expect(client.send(new SendTaskHeartbeatCommand({ taskToken: token }))).rejects.toBeInstanceOf(TaskTimedOut);
    expect(await historyTypes(arn)).toContain('TaskTimedOut');
  });

  it('StopExecution aborts a waiting execution, and its token is refused afterwards', async () => {
    const arn = await start('approval', { order: 'stop-1' });
    const token = await tokenFor('stop-1');

    await client.send(new StopExecutionCommand({ executionArn: arn, error: 'Cancelled', cause: 'by the test' }));

    expect(await client.send(new DescribeExecutionCommand({ executionArn: arn }))).toMatchObject({ status: 'ABORTED', error: 'Cancelled', cause: 'by the test' });
    await expect(client.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }))).rejects.toBeInstanceOf(TaskTimedOut);
    expect((await historyTypes(arn)).at(-1)).toBe('ExecutionAborted');
  });
});

describe('named executions', () => {
  it('same name and input while running → the same execution; other input → ExecutionAlreadyExists', async () => {
    const first = await start('approval', { order: 'idem-1' }, 'order-idem-1');
    const again = await start('approval', { order: 'idem-1' }, 'order-idem-1');

    expect(again).toBe(first);
    await expect(start('approval', { order: 'other' }, 'order-idem-1')).rejects.toBeInstanceOf(ExecutionAlreadyExists);
    const listed = await client.send(new ListExecutionsCommand({ stateMachineArn: machineArn('approval'), statusFilter: 'RUNNING' }));
    expect(listed.executions!.filter((e) => e.name === 'order-idem-1')).toHaveLength(1);
  });

  it('once the execution is closed, the same name is refused whatever the input (as AWS does)', async () => {
    const arn = await start('approval', { order: 'idem-2' }, 'order-idem-2');
    await client.send(new SendTaskSuccessCommand({ taskToken: await tokenFor('idem-2'), output: '{}' }));
    await finished(arn);

    await expect(start('approval', { order: 'idem-2' }, 'order-idem-2')).rejects.toBeInstanceOf(ExecutionAlreadyExists);
  });
});

describe('durability', () => {
  it('with a dataDir, executions left RUNNING by a previous process come back ABORTED', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sfn-local-'));
    const previous = new LocalStepFunctions({ region: REGION, account: ACCOUNT, invoke, dataDir });
    const approval = machines.find((m) => m.name === 'approval')!;
    previous.register(approval);
    const previousClient = clientFor((await previous.start()).endpoint);
    const arn = await start('approval', { order: 'durable-1' }, 'durable-1', previousClient);
    await tokenFor('durable-1');
    const files = readdirSync(join(dataDir, 'stepfunctions'));
    expect(files).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(dataDir, 'stepfunctions', files[0]!), 'utf8'))).toMatchObject({ executionArn: arn, status: 'RUNNING' });

    // The previous process "dies" (never stopped) and a new one opens the same dataDir.
    const next = new LocalStepFunctions({ region: REGION, account: ACCOUNT, invoke, dataDir });
    next.register(approval);
    const nextClient = clientFor((await next.start()).endpoint);
    try {
      const described = await nextClient.send(new DescribeExecutionCommand({ executionArn: arn }));
      expect(described).toMatchObject({ status: 'ABORTED', error: 'States.Runtime', cause: 'the local runtime stopped while this execution ran', input: '{"order":"durable-1"}' });
      const listed = await nextClient.send(new ListExecutionsCommand({ stateMachineArn: approval.arn }));
      expect(listed.executions).toMatchObject([{ executionArn: arn, status: 'ABORTED' }]);
      await expect(start('approval', { order: 'durable-1' }, 'durable-1', nextClient)).rejects.toBeInstanceOf(ExecutionAlreadyExists);
      const history = await nextClient.send(new GetExecutionHistoryCommand({ executionArn: arn }));
      expect(history.events!.map((e) => e.type)).toEqual(['ExecutionStarted', 'ExecutionAborted']);
      expect(readdirSync(join(dataDir, 'stepfunctions')).filter((f) => !f.endsWith('.json'))).toEqual([]);
    } finally {
      previousClient.destroy();
      nextClient.destroy();
      await previous.stop();
      await next.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('hostile input', () => {
  const raw = async (target: string | undefined, body: string) => {
    const headers: Record<string, string> = { 'content-type': 'application/x-amz-json-1.0' };
    if (target) headers['x-amz-target'] = target;
    const res = await fetch(endpoint, { method: 'POST', headers, body });
    return { status: res.status, body: (await res.json()) as { __type: string; message: string } };
  };

  it.each([
    ['an unknown operation', 'AWSStepFunctions.DeleteEverything', '{}', 'UnknownOperationException'],
    ['an inherited property as operation', 'AWSStepFunctions.constructor', '{}', 'UnknownOperationException'],
    ['no target', undefined, '{}', 'UnknownOperationException'],
    ['a body that is not JSON', 'AWSStepFunctions.DescribeExecution', '{"executionArn":', 'SerializationException'],
    ['a missing executionArn', 'AWSStepFunctions.DescribeExecution', '{}', 'ValidationException'],
    ['a body that is an array', 'AWSStepFunctions.StopExecution', '[1,2]', 'ValidationException'],
    ['a malformed ARN', 'AWSStepFunctions.DescribeExecution', '{"executionArn":"nope"}', 'InvalidArn'],
    ['input that is not JSON', 'AWSStepFunctions.StartExecution', JSON.stringify({ stateMachineArn: machineArn('retry'), input: '{' }), 'InvalidExecutionInput'],
    ['a name with a slash', 'AWSStepFunctions.StartExecution', JSON.stringify({ stateMachineArn: machineArn('retry'), name: 'a/b' }), 'InvalidName'],
    ['a well-formed token never issued', 'AWSStepFunctions.SendTaskSuccess', JSON.stringify({ taskToken: 'x'.repeat(64), output: 'nope' }), 'TaskDoesNotExist'],
  ])('answers %s with 400 and the AWS error shape', async (_, target, body, type) => {
    const answer = await raw(target, body);

    expect(answer.status).toBe(400);
    expect(answer.body.__type).toBe(type);
    expect(typeof answer.body.message).toBe('string');
  });

  it('maps errors onto the SDK exception classes, and keeps serving', async () => {
    const unknownExecution = `arn:aws:states:${REGION}:${ACCOUNT}:execution:retry:nobody`;
    await expect(client.send(new DescribeExecutionCommand({ executionArn: unknownExecution }))).rejects.toBeInstanceOf(ExecutionDoesNotExist);
    await expect(start('missing', {})).rejects.toBeInstanceOf(StateMachineDoesNotExist);
    await expect(client.send(new SendTaskSuccessCommand({ taskToken: 'not a token', output: '{}' }))).rejects.toBeInstanceOf(InvalidToken);
    await expect(client.send(new SendTaskSuccessCommand({ taskToken: 'A'.repeat(64), output: '{}' }))).rejects.toBeInstanceOf(TaskDoesNotExist);
    expect((await client.send(new ListExecutionsCommand({ stateMachineArn: machineArn('retry') }))).executions!.length).toBeGreaterThan(0);
    expect(logged).toEqual([]);
  });
});

describe('registration', () => {
  it('refuses a Task resource the local runtime does not serve', () => {
    const local = new LocalStepFunctions({ region: REGION, account: ACCOUNT, invoke });
    const task = (resource: string) => ({ StartAt: 'T', States: { T: { Type: 'Task', Resource: resource, End: true } } });

    expect(() => local.register({ name: 'q', type: 'STANDARD', arn: machineArn('q'), definition: task('arn:aws:states:::sqs:sendMessage') })).toThrow(/not served locally/);
  });
});
