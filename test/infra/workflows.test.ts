import { DescribeExecutionCommand, SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, StartExecutionCommand, type DescribeExecutionCommandOutput } from '@aws-sdk/client-sfn';
import { App, Aspects, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { LocalStepFunctions } from '../../bin/local-cloud/step-functions';
import { Workflow, workflowType, worstCaseSeconds } from '../../lib/constructs/workflow';
import { AwsSolutionsChecks } from '../../lib/nag';
import { loadWorkflows } from '../../lib/workflows';
import { StepEventSchema, WorkflowDefinitionSchema, type StepEvent, type WorkflowDefinition } from '../../lambdas/contracts';

/**
 * Workflows as configuration: the loader's refusals, the compiled state machines' shape, and the compiled ASL run on
 * the local Step Functions service against a fake workflow function.
 */

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
const FUNCTION_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:workflow`;

// ---------------------------------------------------------------------------------------------- the loader

const scratch = mkdtempSync(join(tmpdir(), 'workflows-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Writes one workflow file in a folder of its own and loads that folder. */
const loadOnly = (name: string, yaml: string, capabilities?: string[]) => {
  const dir = mkdtempSync(join(scratch, 'case-'));
  writeFileSync(join(dir, `${name}.yaml`), yaml);
  return () => loadWorkflows(dir, { capabilities });
};

describe('loadWorkflows', () => {
  it('loads the examples', () => {
    const workflows = loadWorkflows();

    expect(workflows.map((w) => w.name)).toEqual(expect.arrayContaining(['purchase-approval', 'triage']));
  });

  it('names the file, the step and the key of a value the schema refuses', () => {
    const load = loadOnly(
      'bad-key',
      `name: bad-key
description: d
steps:
  - { id: first, capability: echo }
  - id: enrich
    parallel:
      - [{ id: a, capability: echo, timeoutSeconds: 901 }]
      - [{ id: b, capability: echo }]
`,
    );

    expect(load).toThrow(/case-\w+\/bad-key\.yaml: steps\[1\] \(enrich\)\.parallel\[0\]\[0\] \(a\)\.timeoutSeconds: Too big: expected number to be <=900$/);
  });

  it('names an unknown key of a step', () => {
    const load = loadOnly('typo', 'name: typo\ndescription: d\nsteps:\n  - { id: first, capability: echo, timeout: 5 }\n');

    expect(load).toThrow(/typo\.yaml: steps\[0\] \(first\)\.timeout: unknown key$/);
  });

  it('refuses a reference to a later step', () => {
    const load = loadOnly(
      'later',
      `name: later
description: d
steps:
  - { id: first, capability: echo, input: { text: $.steps.second.output.text } }
  - { id: second, capability: echo }
`,
    );

    expect(load).toThrow(/later\.yaml: steps\[0\] \(first\)\.input\.text: "\$\.steps\.second\.output\.text" refers to step "second" \(steps\[1\] \(second\)\), which has not certainly run before/);
  });

  it('refuses a reference to a sibling parallel branch, and to a step inside a choice branch from after the choice', () => {
    const sibling = loadOnly(
      'sibling',
      `name: sibling
description: d
steps:
  - id: both
    parallel:
      - [{ id: a, capability: echo }]
      - [{ id: b, capability: echo, input: { x: $.steps.a.output } }]
`,
    );
    const afterChoice = loadOnly(
      'after-choice',
      `name: after-choice
description: d
steps:
  - id: pick
    choice:
      variable: $.input.kind
      cases: [{ equals: big, steps: [{ id: big, capability: echo }] }]
  - { id: last, capability: echo, input: { x: $.steps.big.output } }
`,
    );

    expect(sibling).toThrow(/steps\[0\] \(both\)\.parallel\[1\]\[0\] \(b\)\.input\.x: .* refers to step "a" .* not certainly run before/);
    expect(afterChoice).toThrow(/steps\[1\] \(last\)\.input\.x: .* refers to step "big" .* not certainly run before/);
  });

  it('refuses a duplicate step id, fallbacks included', () => {
    const load = loadOnly(
      'dup',
      `name: dup
description: d
steps:
  - { id: first, capability: echo }
  - { id: second, capability: echo, onFailure: { fallback: { id: first, capability: echo } } }
`,
    );

    expect(load).toThrow(/dup\.yaml: steps\[1\] \(second\)\.onFailure\.fallback \(first\)\.id: step id "first" is already used by steps\[0\] \(first\)$/);
  });

  it('refuses a capability that is not enabled, naming the enabled ones', () => {
    const load = loadOnly('cap', 'name: cap\ndescription: d\nsteps:\n  - { id: first, capability: summarize }\n', ['echo', 'classify']);

    expect(load).toThrow(/cap\.yaml: steps\[0\] \(first\)\.capability: "summarize" is not an enabled capability \(enabled: echo, classify\)$/);
  });

  it('names the file of a YAML syntax error', () => {
    const load = loadOnly('broken', 'name: broken\ndescription: [unclosed\n');

    expect(load).toThrow(/broken\.yaml: not valid YAML: /);
  });

  it('refuses a name other than the file name', () => {
    const load = loadOnly('file-name', 'name: other-name\ndescription: d\nsteps:\n  - { id: first, capability: echo }\n');

    expect(load).toThrow(/file-name\.yaml: name: "other-name" must equal the file name \(file-name\)$/);
  });
});

// ------------------------------------------------------------------------------------------- the compiler

interface Compiled {
  workflow: Workflow;
  template: Template;
  /** The ASL, with the function's ARN and the partition resolved as CloudFormation would. */
  definition: Asl;
  functionLogicalId: string;
  stack: Stack;
}

interface AslState {
  Type: string;
  Retry?: unknown[];
  Catch?: unknown[];
  Branches?: Asl[];
  [field: string]: unknown;
}
interface Asl {
  StartAt: string;
  States: Record<string, AslState>;
}

const compile = (definition: WorkflowDefinition): Compiled => {
  const app = new App();
  const stack = new Stack(app, 'WorkflowTest', { env: { region: REGION, account: ACCOUNT } });
  const key = new Key(stack, 'Key', { enableKeyRotation: true });
  const handler = new LambdaFunction(stack, 'WorkflowFunction', { code: Code.fromInline('exports.handler = async () => ({})'), handler: 'index.handler', runtime: Runtime.NODEJS_24_X });
  const workflow = new Workflow(stack, 'Workflow', { definition, handler, encryptionKey: key, removalPolicy: RemovalPolicy.DESTROY });
  Aspects.of(stack).add(new AwsSolutionsChecks());
  const template = Template.fromStack(stack);
  const functionLogicalId = stack.getLogicalId(handler.node.defaultChild as never);
  const machine = Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0]!;
  const join = machine['Properties'].DefinitionString['Fn::Join'] as [string, unknown[]];
  const text = join[1]
    .map((part) => {
      if (typeof part === 'string') return part;
      const json = JSON.stringify(part);
      if (json === JSON.stringify({ Ref: 'AWS::Partition' })) return 'aws';
      if (json === JSON.stringify({ 'Fn::GetAtt': [functionLogicalId, 'Arn'] })) return FUNCTION_ARN;
      throw new Error(`unexpected token in the definition: ${json}`);
    })
    .join('');
  return { workflow, template, definition: JSON.parse(text) as Asl, functionLogicalId, stack };
};

/** Every state of the definition, branches included. */
const allStates = (asl: Asl): [string, AslState][] =>
  Object.entries(asl.States).flatMap(([name, state]) => [[name, state] as [string, AslState], ...(state.Branches ?? []).flatMap(allStates)]);

const workflowNamed = (name: string) => loadWorkflows().find((w) => w.name === name)!;
/** A definition for the tests only (small timeouts), validated as the loader would. */
const testWorkflow = (yaml: string): WorkflowDefinition => WorkflowDefinitionSchema.parse(parse(yaml));

const OPS = testWorkflow(`
name: ops
description: one step of each failure rule
steps:
  - { id: first, capability: echo, input: { n: $.input.n }, timeoutSeconds: 2, retry: { attempts: 3, intervalSeconds: 1, jitter: false } }
  - id: second
    capability: echo
    input: { first: $.steps.first.output }
    timeoutSeconds: 2
    retry: { attempts: 2 }
    onFailure: { fallback: { id: secondFallback, capability: echo, input: { fallback: true, first: $.steps.first.output }, timeoutSeconds: 2, retry: { attempts: 1 } } }
  - { id: third, capability: echo, timeoutSeconds: 2, retry: { attempts: 1 }, onFailure: continue }
`);

const QUICK_APPROVAL = testWorkflow(`
name: quick-approval
description: an approval gate with timeouts short enough for a test
steps:
  - { id: quote, capability: echo, input: { amount: $.input.amount }, timeoutSeconds: 2 }
  - id: approve
    approval: { roles: [approver], prompt: Approve?, timeoutSeconds: 1, escalate: { roles: [admin], timeoutSeconds: 2 } }
  - { id: order, capability: echo, input: { approval: $.steps.approve.output, quote: $.steps.quote.output }, timeoutSeconds: 2 }
`);

const compiled: Record<string, Compiled> = {};
beforeAll(() => {
  for (const definition of [workflowNamed('triage'), workflowNamed('purchase-approval'), OPS, QUICK_APPROVAL]) compiled[definition.name] = compile(definition);
});

describe('workflowType', () => {
  const agent = (timeoutSeconds: number, attempts: number) =>
    testWorkflow(`name: w\ndescription: d\nsteps:\n  - { id: a, capability: echo, timeoutSeconds: ${timeoutSeconds}, retry: { attempts: ${attempts}, intervalSeconds: 1, backoffRate: 2 } }\n`);

  it('is EXPRESS up to a 240 s worst case (every attempt timing out, plus backoff), STANDARD beyond or with an approval', () => {
    expect(worstCaseSeconds(agent(69, 3).steps)).toBe(3 * (69 + 10) + 1 + 2);
    expect(workflowType(agent(69, 3))).toBe('EXPRESS');
    expect(workflowType(agent(70, 3))).toBe('STANDARD');
    expect(workflowType(QUICK_APPROVAL)).toBe('STANDARD');
  });
});

describe('Workflow (compiled)', () => {
  it.each(['triage', 'purchase-approval', 'ops', 'quick-approval'])('%s: every Task state has a Retry and a Catch', (name) => {
    const tasks = allStates(compiled[name]!.definition).filter(([, state]) => state.Type === 'Task');

    expect(tasks.length).toBeGreaterThan(2);
    for (const [stateName, state] of tasks) {
      expect(state.Retry?.length, `${stateName} Retry`).toBeGreaterThan(0);
      expect(state.Catch?.length, `${stateName} Catch`).toBeGreaterThan(0);
    }
  });

  it('purchase-approval is STANDARD, logs ALL with execution data to an encrypted log group, traced', () => {
    const { template, workflow } = compiled['purchase-approval']!;

    expect(workflow.type).toBe('STANDARD');
    const logGroups = template.findResources('AWS::Logs::LogGroup', { Properties: { KmsKeyId: Match.anyValue() } });
    const [logGroupId] = Object.keys(logGroups);
    expect(logGroupId).toBeDefined();
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: true,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [logGroupId, 'Arn'] } } }],
      },
      TracingConfiguration: { Enabled: true },
    });
    expect(Object.keys(template.findResources('AWS::StepFunctions::StateMachine'))).toEqual(['PurchaseApprovalWorkflow']);
  });

  it('triage is EXPRESS, traced, logs to an encrypted log group; no EXPRESS machine waits for a task token', () => {
    const { template, workflow, definition } = compiled['triage']!;

    expect(workflow.type).toBe('EXPRESS');
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineType: 'EXPRESS', TracingConfiguration: { Enabled: true } });
    template.hasResourceProperties('AWS::Logs::LogGroup', { KmsKeyId: Match.anyValue() });
    for (const { workflow: w, definition: asl } of Object.values(compiled)) {
      if (w.type === 'EXPRESS') expect(JSON.stringify(asl)).not.toContain('.waitForTaskToken');
    }
    expect(JSON.stringify(definition)).not.toContain('.waitForTaskToken');
  });

  it.each(['triage', 'purchase-approval'])('%s: the state machine role may invoke the workflow function and nothing else', (name) => {
    const { template, functionLogicalId } = compiled[name]!;
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) => policy['Properties'].PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
    );
    const invokes = statements.filter((s) => [s.Action].flat().some((action) => action.startsWith('lambda:')));

    expect(invokes.length).toBeGreaterThan(0);
    for (const statement of invokes) {
      expect([statement.Action].flat()).toEqual(['lambda:InvokeFunction']);
      for (const resource of [statement.Resource].flat()) expect(JSON.stringify(resource)).toContain(functionLogicalId);
    }
  });

  it.each(['triage', 'purchase-approval'])('%s: passes cdk-nag AwsSolutions', (name) => {
    const { stack } = compiled[name]!;
    const errors = Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-'));
    const workflowErrors = errors.filter((e) => e.id.includes('/Workflow/'));

    expect(workflowErrors.map((e) => `${e.id}: ${String(e.entry.data).slice(0, 120)}`)).toEqual([]);
  });
});

// --------------------------------------------------------------------------------------------- the runs

class StepFailedError extends Error {
  override name = 'StepFailed';
}

/** Per run (taskId) and step id, how many attempts fail (Infinity: all). */
const failing = new Map<string, number>();
const attempts = new Map<string, number>();
const events: StepEvent[] = [];

const invoke = async (functionArn: string, payload: unknown): Promise<unknown> => {
  if (functionArn !== FUNCTION_ARN) throw new Error(`invoked ${functionArn}`);
  const event = StepEventSchema.parse(payload);
  events.push(event);
  if (event.action !== 'run') return {};
  const key = `${event.run.taskId}/${event.stepId}`;
  const attempt = (attempts.get(key) ?? 0) + 1;
  attempts.set(key, attempt);
  if (attempt <= (failing.get(key) ?? 0)) throw new StepFailedError(`${event.stepId} failed (attempt ${attempt})`);
  return { output: event.input };
};

let sfn: LocalStepFunctions;
let client: SFNClient;
const machineArn = (name: string) => `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`;

beforeAll(async () => {
  sfn = new LocalStepFunctions({ region: REGION, account: ACCOUNT, invoke, retryIntervalScale: 0.01 });
  for (const [name, c] of Object.entries(compiled)) sfn.register({ name, arn: machineArn(name), type: c.workflow.type, definition: c.definition });
  const { endpoint } = await sfn.start();
  client = new SFNClient({ endpoint, region: REGION, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, disableHostPrefix: true });
});
afterAll(async () => {
  client?.destroy();
  await sfn?.stop();
});

let runs = 0;
const start = async (workflow: string, input: object, failures: Record<string, number> = {}) => {
  const taskId = `task-${++runs}`;
  for (const [stepId, count] of Object.entries(failures)) failing.set(`${taskId}/${stepId}`, count);
  const { executionArn } = await client.send(
    new StartExecutionCommand({ stateMachineArn: machineArn(workflow), input: JSON.stringify({ run: { tenantId: 'acme', taskId }, input }) }),
  );
  return { taskId, executionArn: executionArn! };
};

const finished = async (executionArn: string): Promise<DescribeExecutionCommandOutput> => {
  for (let i = 0; i < 1000; i++) {
    const described = await client.send(new DescribeExecutionCommand({ executionArn }));
    if (described.status !== 'RUNNING') return described;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${executionArn} still running`);
};

const eventsOf = (taskId: string) => events.filter((e) => e.run.taskId === taskId);
const finishesOf = (taskId: string) => eventsOf(taskId).filter((e): e is Extract<StepEvent, { action: 'finish' }> => e.action === 'finish');
const ranSteps = (taskId: string) => eventsOf(taskId).flatMap((e) => (e.action === 'run' ? [e.stepId] : []));

const approvalRequest = async (taskId: string, level: 1 | 2): Promise<Extract<StepEvent, { action: 'approve' }>> => {
  for (let i = 0; i < 500; i++) {
    const found = eventsOf(taskId).find((e): e is Extract<StepEvent, { action: 'approve' }> => e.action === 'approve' && e.level === level);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no approval request at level ${level} for ${taskId}`);
};

describe('Workflow (run on the local Step Functions)', () => {
  it('triage: runs every step, both parallel branches and the chosen branch, and finishes with every output', async () => {
    const { taskId, executionArn } = await start('triage', { text: 'printer on fire', priority: 'urgent', customer: 'c-1' });

    expect(await finished(executionArn)).toMatchObject({ status: 'SUCCEEDED' });
    expect(ranSteps(taskId).sort()).toEqual(['classify', 'lookupCustomer', 'lookupHistory', 'page']);
    const finishes = finishesOf(taskId);
    expect(finishes).toHaveLength(1);
    expect(finishes[0]).toMatchObject({ outcome: 'succeeded', run: { tenantId: 'acme', taskId } });
    expect(finishes[0]!.steps).toEqual({
      classify: { output: { text: 'printer on fire', priority: 'urgent' } },
      lookupCustomer: { output: { customer: 'c-1' } },
      lookupHistory: { output: { ticket: 'printer on fire', limit: 10 } },
      page: { output: { customer: 'c-1', text: 'printer on fire', channel: 'pager' } },
    });
  });

  it('triage: the other branch of the choice, with the parallel outputs referenced after the parallel', async () => {
    const { taskId, executionArn } = await start('triage', { text: 'toner low', priority: 'low', customer: 'c-2' });

    expect(await finished(executionArn)).toMatchObject({ status: 'SUCCEEDED' });
    expect(ranSteps(taskId)).toContain('queue');
    expect(ranSteps(taskId)).not.toContain('page');
    expect((finishesOf(taskId)[0]!.steps as Record<string, unknown>)['queue']).toEqual({ output: { text: 'toner low', history: { ticket: 'toner low', limit: 10 } } });
  });

  it('triage: a failed page runs its fallback, whose output stands for the step', async () => {
    const { taskId, executionArn } = await start('triage', { text: 'down', priority: 'urgent', customer: 'c-3' }, { page: Infinity });

    expect(await finished(executionArn)).toMatchObject({ status: 'SUCCEEDED' });
    expect(ranSteps(taskId).filter((s) => s === 'page')).toHaveLength(3);
    expect(ranSteps(taskId)).toContain('pageByEmail');
    expect((finishesOf(taskId)[0]!.steps as Record<string, unknown>)['page']).toEqual({
      output: { customer: 'c-3', text: 'down', channel: 'email' },
      fallback: 'pageByEmail',
    });
  });

  it('triage: a branch step failing for good records the failure once and fails the execution with STEP_FAILED', async () => {
    const { taskId, executionArn } = await start('triage', { text: 't', priority: 'low', customer: 'c' }, { lookupHistory: Infinity });

    expect(await finished(executionArn)).toMatchObject({ status: 'FAILED', error: 'STEP_FAILED' });
    expect(finishesOf(taskId)).toEqual([expect.objectContaining({ outcome: 'failed', error: expect.objectContaining({ Error: 'StepFailed' }) })]);
    expect(ranSteps(taskId)).not.toContain('queue');
  });

  it('a step failing twice then succeeding is retried and the run succeeds', async () => {
    const { taskId, executionArn } = await start('ops', { n: 1 }, { first: 2 });

    expect(await finished(executionArn)).toMatchObject({ status: 'SUCCEEDED' });
    expect(ranSteps(taskId)).toEqual(['first', 'first', 'first', 'second', 'third']);
    expect(finishesOf(taskId)[0]).toMatchObject({ outcome: 'succeeded', steps: { first: { output: { n: 1 } } } });
  });

  it('a step failing on every attempt with onFailure fail: finish failed, then the execution FAILED', async () => {
    const { taskId, executionArn } = await start('ops', { n: 2 }, { first: Infinity });

    const result = await finished(executionArn);

    expect(result).toMatchObject({ status: 'FAILED', error: 'STEP_FAILED' });
    expect(result.cause).toContain('first');
    expect(ranSteps(taskId)).toEqual(['first', 'first', 'first']);
    expect(finishesOf(taskId)).toEqual([
      expect.objectContaining({ outcome: 'failed', error: expect.objectContaining({ Error: 'StepFailed', Cause: expect.stringContaining('attempt 3') }) }),
    ]);
  });

  it('fallback and continue: the fallback runs in the failed step\'s stead; a continued step leaves its error', async () => {
    const { taskId, executionArn } = await start('ops', { n: 3 }, { second: Infinity, third: Infinity });

    expect(await finished(executionArn)).toMatchObject({ status: 'SUCCEEDED' });
    expect(ranSteps(taskId)).toEqual(['first', 'second', 'second', 'secondFallback', 'third']);
    const steps = finishesOf(taskId)[0]!.steps as Record<string, { output?: unknown; error?: { Error: string } }>;
    expect(steps['second']).toEqual({ output: { fallback: true, first: { n: 3 } }, fallback: 'secondFallback' });
    expect(steps['third']!.error).toMatchObject({ Error: 'StepFailed' });
  });

  it('purchase-approval: SendTaskSuccess on the gate\'s token continues with the decision and finishes', async () => {
    const { taskId, executionArn } = await start('purchase-approval', { item: 'laptop', amount: 1200 });
    const request = await approvalRequest(taskId, 1);

    expect(request).toMatchObject({ stepId: 'approve', roles: ['approver'], prompt: 'Approve this purchase?', timeoutSeconds: 86400 });
    await client.send(new SendTaskSuccessCommand({ taskToken: request.taskToken, output: JSON.stringify({ approvedBy: 'u-9' }) }));

    expect(await finished(executionArn)).toMatchObject({ status: 'SUCCEEDED' });
    expect(finishesOf(taskId)[0]).toMatchObject({
      outcome: 'succeeded',
      steps: { approve: { output: { approvedBy: 'u-9' } }, order: { output: { approval: { approvedBy: 'u-9' }, quote: { item: 'laptop', amount: 1200 } } } },
    });
  });

  it('purchase-approval: SendTaskFailure REJECTED records the run failed (REJECTED) and ends it', async () => {
    const { taskId, executionArn } = await start('purchase-approval', { item: 'yacht', amount: 9e6 });
    const request = await approvalRequest(taskId, 1);

    await client.send(new SendTaskFailureCommand({ taskToken: request.taskToken, error: 'REJECTED', cause: 'over budget' }));

    expect(await finished(executionArn)).toMatchObject({ status: 'FAILED', error: 'REJECTED' });
    expect(finishesOf(taskId)).toEqual([expect.objectContaining({ outcome: 'failed', error: { Error: 'REJECTED', Cause: 'over budget' } })]);
    expect(ranSteps(taskId)).toEqual(['quote']);
  });

  it('no answer in time: the gate escalates to level 2 (admin), whose approval continues the run', async () => {
    const { taskId, executionArn } = await start('quick-approval', { amount: 5 });
    const escalated = await approvalRequest(taskId, 2);

    expect(escalated).toMatchObject({ stepId: 'approve', roles: ['admin'], timeoutSeconds: 2, level: 2 });
    await client.send(new SendTaskSuccessCommand({ taskToken: escalated.taskToken, output: '{"approvedBy":"admin-1"}' }));

    expect(await finished(executionArn)).toMatchObject({ status: 'SUCCEEDED' });
    expect(finishesOf(taskId)[0]).toMatchObject({ outcome: 'succeeded', steps: { approve: { output: { approvedBy: 'admin-1' } } } });
  });

  it('no answer at either level: the run is recorded failed with APPROVAL_TIMEOUT', async () => {
    const { taskId, executionArn } = await start('quick-approval', { amount: 6 });

    expect(await finished(executionArn)).toMatchObject({ status: 'FAILED', error: 'APPROVAL_TIMEOUT' });
    expect(eventsOf(taskId).filter((e) => e.action === 'approve').map((e) => (e as { level: number }).level)).toEqual([1, 2]);
    expect(finishesOf(taskId)).toEqual([expect.objectContaining({ outcome: 'failed', error: expect.objectContaining({ Error: 'APPROVAL_TIMEOUT' }) })]);
  });
});
