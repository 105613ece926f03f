import { Aws, Duration, Names, type RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  CfnStateMachine,
  Choice,
  Condition,
  DefinitionBody,
  Fail,
  IntegrationPattern,
  JitterType,
  JsonPath,
  LogLevel,
  Parallel,
  Pass,
  Result,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  Timeout,
  type RetryProps,
  type State,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { createHash } from 'node:crypto';
import {
  RUN_ERRORS,
  STEP_ERRORS,
  isAgentStep,
  isApprovalStep,
  isChoiceStep,
  isParallelStep,
  type AgentStep,
  type ApprovalStep,
  type ChoiceStep,
  type ParallelStep,
  type Step,
  type WorkflowDefinition,
} from '../../lambdas/contracts';
import { NagSuppressions } from '../nag';

/** Longest worst case, in seconds, a workflow may have and still run as EXPRESS (which stops every run at 300 s). */
export const EXPRESS_BUDGET_SECONDS = 240;
const EXPRESS_MAX_SECONDS = 300;
/** The Task's own timeout is the step's plus this: the workflow function enforces the step's and says StepTimedOut. */
export const TASK_TIMEOUT_MARGIN_SECONDS = 10;

/** Lambda's transient invoke errors, retried on every Task state. */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
];
/** What an agent step's Retry matches. Never RunClosed: a closed run is not retried. */
export const STEP_RETRY_ERRORS = [STEP_ERRORS.failed, STEP_ERRORS.timedOut, 'States.Timeout', ...LAMBDA_SERVICE_ERRORS];
/** Errors raised by a state of ours after the run's end was recorded (or need not be): a Parallel passes them on. */
const RECORDED_ERRORS = [...new Set<string>([...Object.values(RUN_ERRORS), STEP_ERRORS.runClosed])];

const MAX_STATE_NAME = 80;

export interface WorkflowProps {
  definition: WorkflowDefinition;
  /** The one workflow function every Task state invokes (the StepEvent actions run, approve, finish). */
  handler: IFunction;
  encryptionKey: IKey;
  removalPolicy: RemovalPolicy;
  /**
   * Capabilities external agents pull (claim_task): a step of one is a `.waitForTaskToken` Task
   * whose token the agent's complete_task / fail_task answers. Default: none.
   */
  pullCapabilities?: readonly string[];
}

/** Worst-case seconds of a sequence: every attempt timing out, every backoff at its longest, the slowest branch. */
export const worstCaseSeconds = (steps: readonly Step[]): number => steps.reduce((sum, step) => sum + stepWorstCase(step), 0);

const agentWorstCase = (step: Omit<AgentStep, 'onFailure'>): number => {
  const { attempts, intervalSeconds, backoffRate, maxDelaySeconds } = step.retry;
  let backoff = 0;
  for (let retry = 0; retry < attempts - 1; retry++) backoff += Math.min(intervalSeconds * backoffRate ** retry, maxDelaySeconds ?? Infinity);
  return attempts * (step.timeoutSeconds + TASK_TIMEOUT_MARGIN_SECONDS) + backoff;
};

const stepWorstCase = (step: Step): number => {
  if (isAgentStep(step)) return agentWorstCase(step) + (typeof step.onFailure === 'object' ? agentWorstCase(step.onFailure.fallback) : 0);
  if (isApprovalStep(step)) return step.approval.timeoutSeconds + (step.approval.escalate?.timeoutSeconds ?? 0);
  if (isParallelStep(step)) return Math.max(...step.parallel.map(worstCaseSeconds));
  if (isChoiceStep(step)) return Math.max(worstCaseSeconds(step.choice.otherwise), ...step.choice.cases.map((c) => worstCaseSeconds(c.steps)));
  return 0;
};

/** Whether a step (fallbacks and branches included) runs one of `capabilities`. */
const usesAny = (steps: readonly Step[], capabilities: readonly string[]): boolean =>
  capabilities.length > 0 &&
  steps.some((step) =>
    isAgentStep(step)
      ? capabilities.includes(step.capability) || (typeof step.onFailure === 'object' && capabilities.includes(step.onFailure.fallback.capability))
      : isParallelStep(step)
        ? step.parallel.some((branch) => usesAny(branch, capabilities))
        : isChoiceStep(step)
          ? [...step.choice.cases.map((c) => c.steps), step.choice.otherwise].some((branch) => usesAny(branch, capabilities))
          : false,
  );

const hasApproval = (steps: readonly Step[]): boolean =>
  steps.some(
    (step) =>
      isApprovalStep(step) ||
      (isParallelStep(step) && step.parallel.some(hasApproval)) ||
      (isChoiceStep(step) && (hasApproval(step.choice.otherwise) || step.choice.cases.some((c) => hasApproval(c.steps)))),
  );

/**
 * STANDARD when the workflow waits for a person (an approval step: EXPRESS cannot wait for a task token), when its
 * worst case exceeds EXPRESS_BUDGET_SECONDS or when its declared timeout exceeds EXPRESS's 5-minute cap; EXPRESS
 * otherwise. Why it matters: STANDARD bills every state transition (a 10-step run with retries is dozens of
 * transitions), EXPRESS bills requests and GB-seconds of duration, much cheaper for short runs, but stops every run at
 * 5 minutes.
 */
export const workflowType = (definition: WorkflowDefinition, pullCapabilities: readonly string[] = []): 'STANDARD' | 'EXPRESS' =>
  hasApproval(definition.steps) ||
  usesAny(definition.steps, pullCapabilities) ||
  worstCaseSeconds(definition.steps) > EXPRESS_BUDGET_SECONDS ||
  (definition.timeoutSeconds ?? 0) > EXPRESS_MAX_SECONDS
    ? 'STANDARD'
    : 'EXPRESS';

const pascal = (name: string) => name.split('-').map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join('');

/** A state name of at most 80 characters (ASL's limit), kept unique by a hash of the full name when cut. */
const stateName = (text: string): string => {
  if (text.length <= MAX_STATE_NAME) return text;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 6);
  return `${text.slice(0, MAX_STATE_NAME - 8)}… ${hash}`;
};

/** A state graph of its own (the main chain, or one Parallel branch): its states can only lead to its own. */
interface GraphScope {
  label?: string;
  closed?: Fail;
}

interface InvokeOptions {
  resultSelector?: Record<string, unknown>;
  /** Default: JsonPath.DISCARD (the state is kept as it was). */
  resultPath?: string;
  timeoutSeconds?: number;
  waitForToken?: boolean;
  retry?: RetryProps;
}

const LAMBDA_RETRY: RetryProps = { errors: LAMBDA_SERVICE_ERRORS, maxAttempts: 3, interval: Duration.seconds(1), backoffRate: 2, jitterStrategy: JitterType.FULL };

/** Where a failure goes once its Catch has stored it at `$.steps.<id>.error`. */
type ErrorSource = { path: string } | { value: { Error: string; Cause: string } };

/**
 * A workflow definition (lib/workflows/*.yaml) as a Step Functions state machine, JSONPath, Task states invoking the
 * one workflow function with a StepEvent (lambdas/contracts/workflows.ts).
 *
 * The state (JSON) while a run goes on:
 *   { run: { tenantId, taskId }, input: <the run's input>, steps: { <stepId>: … } }
 * - The execution input is `{ run, input }`; the first state (`start run`) sets `$.steps` to `{}`, so what a
 *   submitter puts in `steps` is never read as a step's result.
 * - An agent step that succeeded: `$.steps.<id>` = `{ output }` (ResultSelector `{"output.$": "$.Payload.output"}`).
 * - An approval step that was approved: `$.steps.<id>` = `{ output }`, output = the SendTaskSuccess output (also when
 *   approved at the escalation level).
 * - A step that failed (after its retries): `$.steps.<id>` = `{ error: { Error, Cause } }`, by the Catch
 *   (ResultPath `$.steps.<id>.error`); with `onFailure: continue` the run goes on with it.
 * - A step whose fallback ran: `$.steps.<id>` = `{ output: <the fallback's output>, fallback: <fallback id> }`, so later
 *   references to `$.steps.<id>.output` hold whichever ran (the loader refuses references to a fallback's id). A
 *   failed fallback leaves `$.steps.<fallback id>` = `{ error }` and fails the run.
 * - A parallel step: each branch gets the whole state and adds its own steps; the Parallel's ResultSelector rebuilds
 *   `{ run, input, steps }` with `steps` = States.JsonMerge of every branch's `steps` (each holds the steps before the
 *   Parallel plus its own), so afterwards `$.steps.<id>` works for every step of every branch: references need no
 *   rewriting. A parallel or choice step has no entry of its own (but `{ error }` when the Parallel itself failed).
 * - A choice step compares `choice.variable` with each case (IsPresent first: a missing value takes `otherwise`);
 *   every branch joins the step after the choice.
 *
 * Failures: every Task state has a Retry (an agent step: StepFailed, StepTimedOut, States.Timeout and Lambda's
 * service errors, its own attempts/backoff/jitter; the others: Lambda's service errors) and a Catch: RunClosed →
 * `run closed` (a Fail: the run is already closed, nothing to record); anything else → the step's rule. `fail` is a
 * Task `<id> failed` sending `{ action: 'finish', outcome: 'failed', error }` then a Fail `<id> failed (end)` (error
 * STEP_FAILED, REJECTED, APPROVAL_TIMEOUT; cause naming the step); the finish Task's own Catch goes to
 * `<…> (unrecorded)`, a Fail with the same error. There is no wrapper around the chain: every Task and Parallel
 * catches for itself (a wrapping Parallel would cost two transitions per run and still could not catch
 * States.Runtime, which no Catch matches). A Fail inside a Parallel branch ends that branch with one of ours
 * (RUN_ERRORS, RunClosed), already recorded: the Parallel passes it on (`<id> failed (rethrown)`, ErrorPath/CausePath)
 * without a second finish; any other error of a Parallel is finished as WORKFLOW_FAILED.
 * Not caught by design (nothing in ASL can): the run's own timeout, StopExecution, States.Runtime; their finish is
 * the job of whatever watches executions end (an EventBridge rule on Step Functions' status changes).
 *
 * The end: `finish run` sends `{ action: 'finish', outcome: 'succeeded', steps }`, then `run succeeded`.
 */
export class Workflow extends Construct {
  readonly stateMachine: StateMachine;
  readonly type: 'STANDARD' | 'EXPRESS';

  constructor(scope: Construct, id: string, props: WorkflowProps) {
    super(scope, id);
    const { definition } = props;
    this.type = workflowType(definition, props.pullCapabilities);
    const express = this.type === 'EXPRESS';

    const logGroup = new LogGroup(this, 'Logs', {
      // Under /aws/vendedlogs/ so the account's CloudWatch Logs resource policy does not grow with each workflow.
      logGroupName: `/aws/vendedlogs/states/${Names.uniqueResourceName(this, { maxLength: 200, separator: '-' })}`,
      encryptionKey: props.encryptionKey,
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy,
    });
    // CloudWatch Logs encrypts with the key only if the key policy lets it (a no-op on an imported key).
    props.encryptionKey.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*` } },
      }),
    );

    const chain = new WorkflowCompiler(this, props.handler, props.pullCapabilities ?? []).compile(definition);
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      definitionBody: DefinitionBody.fromChainable(chain),
      stateMachineType: express ? StateMachineType.EXPRESS : StateMachineType.STANDARD,
      logs: { destination: logGroup, level: express ? LogLevel.ERROR : LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
      timeout: definition.timeoutSeconds === undefined ? undefined : Duration.seconds(definition.timeoutSeconds),
      removalPolicy: props.removalPolicy,
    });
    // Replacing a state machine loses its running executions: its logical id depends on the workflow's name only.
    (this.stateMachine.node.defaultChild as CfnStateMachine).overrideLogicalId(`${pascal(definition.name)}Workflow`);

    NagSuppressions.addResourceSuppressions(
      this.stateMachine,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Resource::* is only on the CloudWatch Logs delivery actions (logs:CreateLogDelivery…) and X-Ray, which support no resource-level permissions; <function>.Arn:* is the workflow function\'s own versions.',
          appliesTo: ['Resource::*', { regex: '/^Resource::<.*\\.Arn>:\\*$/g' }],
        },
        ...(express
          ? [{ id: 'AwsSolutions-SF1', reason: 'EXPRESS workflows log ERROR only: ALL would bill CloudWatch ingestion for every state of every short run; failures are logged with their data.' }]
          : []),
      ],
      true,
    );
  }
}

/** Builds the chain of states; one instance per workflow. */
class WorkflowCompiler {
  constructor(
    private readonly scope: Construct,
    private readonly handler: IFunction,
    private readonly pullCapabilities: readonly string[],
  ) {}

  compile(definition: WorkflowDefinition): State {
    const main: GraphScope = {};
    const finish = this.invoke('finish run', {
      action: 'finish',
      run: JsonPath.objectAt('$.run'),
      outcome: 'succeeded',
      steps: JsonPath.objectAt('$.steps'),
    });
    finish.addCatch(new Fail(this.scope, 'finish run (unrecorded)', { error: RUN_ERRORS.workflowFailed, cause: 'the run\'s success could not be recorded' }));
    finish.next(new Succeed(this.scope, 'run succeeded'));
    const start = new Pass(this.scope, 'start run', { result: Result.fromObject({}), resultPath: '$.steps' });
    start.next(this.sequence(definition.steps, finish, main));
    return start;
  }

  /** The states of a sequence, each leading to the next, the last to `next` (or ending its branch). */
  private sequence(steps: readonly Step[], next: State | undefined, graph: GraphScope): State {
    let following = next;
    for (const step of [...steps].reverse()) following = this.step(step, following, graph);
    if (following) return following;
    return new Pass(this.scope, stateName(`nothing to do (${graph.label ?? 'run'})`));
  }

  private step(step: Step, next: State | undefined, graph: GraphScope): State {
    if (isAgentStep(step)) return this.agent(step, next, graph);
    if (isApprovalStep(step)) return this.approval(step, next, graph);
    if (isParallelStep(step)) return this.parallel(step, next, graph);
    if (isChoiceStep(step)) return this.choice(step, next, graph);
    throw new Error(`workflow step ${(step as { id: string }).id}: unknown kind`);
  }

  /** A LambdaInvoke of the workflow function, with its Retry (by default on Lambda's service errors). */
  private invoke(name: string, payload: Record<string, unknown>, options: InvokeOptions = {}): LambdaInvoke {
    const task = new LambdaInvoke(this.scope, stateName(name), {
      lambdaFunction: this.handler,
      payload: TaskInput.fromObject(payload),
      integrationPattern: options.waitForToken ? IntegrationPattern.WAIT_FOR_TASK_TOKEN : IntegrationPattern.REQUEST_RESPONSE,
      resultSelector: options.resultSelector,
      resultPath: options.resultPath ?? JsonPath.DISCARD,
      taskTimeout: options.timeoutSeconds === undefined ? undefined : Timeout.duration(Duration.seconds(options.timeoutSeconds)),
      retryOnServiceExceptions: false,
    });
    task.addRetry(options.retry ?? LAMBDA_RETRY);
    return task;
  }

  /** `fail`: record the run's failure (finish), then end the execution with `code`. */
  private finishFailed(name: string, error: ErrorSource, code: string, cause: string): State {
    const task = this.invoke(name, {
      action: 'finish',
      run: JsonPath.objectAt('$.run'),
      outcome: 'failed',
      error: 'path' in error ? JsonPath.objectAt(error.path) : error.value,
    });
    task.addCatch(new Fail(this.scope, stateName(`${name} (unrecorded)`), { error: code, cause: `${cause}; the run's end could not be recorded` }));
    task.next(new Fail(this.scope, stateName(`${name} (end)`), { error: code, cause }));
    return task;
  }

  private runClosed(graph: GraphScope): Fail {
    graph.closed ??= new Fail(this.scope, stateName(graph.label ? `run closed (${graph.label})` : 'run closed'), {
      error: STEP_ERRORS.runClosed,
      cause: 'the run was closed (cancelled or finished) while a step ran',
    });
    return graph.closed;
  }

  private agent(step: AgentStep, next: State | undefined, graph: GraphScope): State {
    const task = this.agentTask(step, step.id, undefined);
    const errorPath = `$.steps.${step.id}.error`;
    task.addCatch(this.runClosed(graph), { errors: [STEP_ERRORS.runClosed], resultPath: errorPath });
    let onFailure: State;
    if (step.onFailure === 'fail') {
      onFailure = this.finishFailed(`${step.id} failed`, { path: errorPath }, RUN_ERRORS.stepFailed, `step ${step.id} failed`);
    } else if (step.onFailure === 'continue') {
      onFailure = next ?? new Pass(this.scope, stateName(`${step.id} continued`));
    } else {
      const fallback = step.onFailure.fallback;
      const fallbackTask = this.agentTask(fallback, step.id, fallback.id);
      const fallbackErrorPath = `$.steps.${fallback.id}.error`;
      fallbackTask.addCatch(this.runClosed(graph), { errors: [STEP_ERRORS.runClosed], resultPath: fallbackErrorPath });
      fallbackTask.addCatch(this.finishFailed(`${fallback.id} failed`, { path: fallbackErrorPath }, RUN_ERRORS.stepFailed, `step ${step.id} and its fallback ${fallback.id} failed`), {
        resultPath: fallbackErrorPath,
      });
      if (next) fallbackTask.next(next);
      onFailure = fallbackTask;
    }
    task.addCatch(onFailure, { resultPath: errorPath });
    if (next) task.next(next);
    return task;
  }

  /** An agent step's Task; a fallback's result goes to the step it stands in for (`resultId`), marked with its id. */
  private agentTask(step: Omit<AgentStep, 'onFailure'>, resultId: string, fallbackId: string | undefined): LambdaInvoke {
    const { attempts, intervalSeconds, backoffRate, maxDelaySeconds, jitter } = step.retry;
    // A pull capability: an external agent claims the step; the state machine waits for its answer (the token).
    const pulled = this.pullCapabilities.includes(step.capability);
    return this.invoke(
      step.id,
      {
        action: pulled ? 'pull' : 'run',
        run: JsonPath.objectAt('$.run'),
        stepId: step.id,
        capability: step.capability,
        timeoutSeconds: step.timeoutSeconds,
        input: compileMapping(step.input),
        ...(pulled ? { taskToken: JsonPath.taskToken } : {}),
      },
      {
        resultSelector: { 'output.$': pulled ? '$' : '$.Payload.output', ...(fallbackId && { fallback: fallbackId }) },
        resultPath: `$.steps.${resultId}`,
        timeoutSeconds: pulled ? step.timeoutSeconds : step.timeoutSeconds + TASK_TIMEOUT_MARGIN_SECONDS,
        waitForToken: pulled,
        retry: {
          errors: STEP_RETRY_ERRORS,
          maxAttempts: attempts - 1,
          interval: Duration.seconds(intervalSeconds),
          backoffRate,
          maxDelay: maxDelaySeconds === undefined ? undefined : Duration.seconds(maxDelaySeconds),
          jitterStrategy: jitter ? JitterType.FULL : undefined,
        },
      },
    );
  }

  private approval(step: ApprovalStep, next: State | undefined, graph: GraphScope): State {
    const { roles, prompt, timeoutSeconds, escalate } = step.approval;
    const escalation = escalate && this.gate(step, `${step.id} (escalated)`, 2, escalate.roles, escalate.timeoutSeconds, undefined, next, graph);
    return this.gate(step, step.id, 1, roles, timeoutSeconds, prompt, next, graph, escalation);
  }

  /** One level of an approval gate: waits for SendTaskSuccess (approved) or SendTaskFailure (REJECTED). */
  private gate(
    step: ApprovalStep,
    name: string,
    level: 1 | 2,
    roles: readonly string[],
    timeoutSeconds: number,
    prompt: string | undefined,
    next: State | undefined,
    graph: GraphScope,
    escalation?: State,
  ): State {
    const errorPath = `$.steps.${step.id}.error`;
    const task = this.invoke(
      name,
      {
        action: 'approve',
        run: JsonPath.objectAt('$.run'),
        stepId: step.id,
        roles,
        ...(prompt !== undefined && { prompt }),
        timeoutSeconds,
        level,
        taskToken: JsonPath.taskToken,
      },
      // The SendTaskSuccess output is the result itself (no Payload around it).
      { waitForToken: true, timeoutSeconds, resultSelector: { 'output.$': '$' }, resultPath: `$.steps.${step.id}` },
    );
    task.addCatch(this.runClosed(graph), { errors: [STEP_ERRORS.runClosed], resultPath: errorPath });
    const timedOut =
      escalation ??
      this.finishFailed(
        `${name} timed out`,
        { value: { Error: RUN_ERRORS.approvalTimeout, Cause: `no decision on ${step.id} within ${timeoutSeconds} s` } },
        RUN_ERRORS.approvalTimeout,
        `approval ${step.id}: no decision within ${timeoutSeconds} s`,
      );
    task.addCatch(timedOut, { errors: ['States.Timeout'], resultPath: errorPath });
    task.addCatch(this.finishFailed(`${name} rejected`, { path: errorPath }, RUN_ERRORS.rejected, `approval ${step.id} was rejected`), {
      errors: [STEP_ERRORS.rejected],
      resultPath: errorPath,
    });
    task.addCatch(this.finishFailed(`${name} failed`, { path: errorPath }, RUN_ERRORS.stepFailed, `approval ${step.id} could not be asked`), { resultPath: errorPath });
    if (next) task.next(next);
    return task;
  }

  private parallel(step: ParallelStep, next: State | undefined, graph: GraphScope): State {
    const branchSteps = step.parallel.map((_, i) => `$[${i}].steps`);
    const merged = branchSteps.slice(1).reduce((acc, path) => `States.JsonMerge(${acc}, ${path}, false)`, branchSteps[0]!);
    const parallel = new Parallel(this.scope, step.id, {
      resultSelector: { 'run.$': '$[0].run', 'input.$': '$[0].input', 'steps.$': merged },
    });
    step.parallel.forEach((branch, i) => parallel.branch(this.sequence(branch, undefined, { label: `${step.id} branch ${i + 1}` })));
    const errorPath = `$.steps.${step.id}.error`;
    parallel.addCatch(
      new Fail(this.scope, stateName(`${step.id} failed (rethrown)`), { errorPath: `${errorPath}.Error`, causePath: `${errorPath}.Cause` }),
      { errors: RECORDED_ERRORS, resultPath: errorPath },
    );
    parallel.addCatch(this.finishFailed(`${step.id} failed`, { path: errorPath }, RUN_ERRORS.workflowFailed, `parallel step ${step.id} failed`), { resultPath: errorPath });
    if (next) parallel.next(next);
    return parallel;
  }

  private choice(step: ChoiceStep, next: State | undefined, graph: GraphScope): State {
    const { variable, cases, otherwise } = step.choice;
    const choice = new Choice(this.scope, step.id);
    const target = (steps: readonly Step[], emptyName: string): State =>
      steps.length ? this.sequence(steps, next, graph) : (next ?? new Pass(this.scope, stateName(emptyName)));
    cases.forEach((c, i) => {
      const equals =
        typeof c.equals === 'string'
          ? Condition.stringEquals(variable, c.equals)
          : typeof c.equals === 'number'
            ? Condition.numberEquals(variable, c.equals)
            : Condition.booleanEquals(variable, c.equals);
      choice.when(Condition.and(Condition.isPresent(variable), equals), target(c.steps, `${step.id} case ${i + 1}`));
    });
    choice.otherwise(target(otherwise, `${step.id} otherwise`));
    return choice;
  }
}

/** A step's input mapping as Parameters: a `$.…` string becomes a `key.$` path (the loader checked each one). */
const compileMapping = (value: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(
    Object.entries(value).map(([key, item]) => {
      if (typeof item === 'string' && item.startsWith('$.')) return [`${key}.$`, item];
      if (typeof item === 'object' && item !== null && !Array.isArray(item)) return [key, compileMapping(item as Record<string, unknown>)];
      return [key, item];
    }),
  );
