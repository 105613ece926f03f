import { Aws, Duration, Stack, type RemovalPolicy, type StackProps } from 'aws-cdk-lib';
import { PolicyStatement, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ENV, type AgentManifest, type QuotaSettings, type WorkflowDefinition } from '../../lambdas/contracts';
import { NagSuppressions } from '../nag';
import { SwitchboardFunction } from '../constructs/switchboard-function';
import type { TasksTable } from '../constructs/tasks-table';
import { Workflow } from '../constructs/workflow';
import type { DataKeys } from '../constructs/data-keys';

export interface WorkflowsStackProps extends StackProps {
  key: IKey;
  tasks: TasksTable;
  /** The enabled agents: workflow steps run them, with their permissions. */
  agents: readonly AgentManifest[];
  definitions: readonly WorkflowDefinition[];
  quotas?: QuotaSettings;
  /** Capabilities external agents pull: a workflow step of one waits for the agent's answer. */
  pullCapabilities?: readonly string[];
  removalPolicy: RemovalPolicy;
  /**
   * The data keys: each workflow's run level is set from its steps' capabilities (DataKeys.addWorkflows),
   * and the workflow function seals and opens run and step data. Absent: nothing sealed.
   */
  dataKeys?: DataKeys;
}

/** The workflow function's timeout covers the longest agent step (900 s at most) with a margin. */
const FUNCTION_MARGIN_SECONDS = 10;

/**
 * Workflows: one state machine per definition (lib/workflows/*.yaml), and the one function every
 * Task state of them invokes (run a step, open an approval gate, record the run's end).
 */
export class WorkflowsStack extends Stack {
  readonly function: SwitchboardFunction;
  readonly workflows: ReadonlyMap<string, Workflow>;

  constructor(scope: Construct, id: string, props: WorkflowsStackProps) {
    super(scope, id, props);
    const longestStep = Math.max(30, ...props.definitions.flatMap((d) => stepTimeouts(d.steps)));
    this.function = new SwitchboardFunction(this, 'WorkflowFunction', {
      entry: 'lambdas/workflow/handler.ts',
      description: 'Workflow steps: runs an agent step, opens an approval gate, records the end of a run',
      timeout: Duration.seconds(Math.min(900, longestStep + FUNCTION_MARGIN_SECONDS)),
      removalPolicy: props.removalPolicy,
      logEncryptionKey: props.key,
      environment: {
        [ENV.enabledAgents]: props.agents.map((agent) => agent.name).join(','),
        ...(props.quotas ? { [ENV.quotas]: JSON.stringify(props.quotas) } : {}),
      },
    });
    props.tasks.bind(this.function, 'readWrite');
    props.dataKeys?.addWorkflows(props.definitions.map((d) => ({ name: d.name, capabilities: stepCapabilities(d.steps) })));
    props.dataKeys?.bindEnvelope(this.function, 'seal-and-open');
    for (const agent of props.agents) {
      for (const permission of agent.permissions) {
        this.function.addToRolePolicy(new PolicyStatement({ actions: [...permission.actions], resources: [...permission.resources] }));
      }
    }
    // A resumed run's gate that was decided before is answered by the function itself. By pattern,
    // not by ARN: the machines reference the function, so a reference back would be a cycle.
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
        resources: [`arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:stateMachine:*`],
      }),
    );
    NagSuppressions.addResourceSuppressions(
      this.function,
      [{ id: 'AwsSolutions-IAM5', reason: 'Task tokens of this account\'s state machines (the workflows reference this function, so their ARNs cannot be referenced back).', appliesTo: [{ regex: '/^Resource::arn:.*:states:.*:stateMachine:\\*$/g' }] }],
      true,
    );
    this.workflows = new Map(
      props.definitions.map((definition) => [
        definition.name,
        new Workflow(this, `Workflow-${definition.name}`, {
          definition,
          handler: this.function,
          encryptionKey: props.key,
          removalPolicy: props.removalPolicy,
          ...(props.pullCapabilities ? { pullCapabilities: props.pullCapabilities } : {}),
        }),
      ]),
    );
  }

  /** The WORKFLOWS variable (name → state machine ARN) and what `fn` may do to the machines and their executions. */
  bind(fn: LambdaFunction, access: 'start' | 'control'): void {
    if (this.workflows.size === 0) return;
    fn.addEnvironment(ENV.workflows, Stack.of(fn).toJsonString(Object.fromEntries([...this.workflows].map(([name, w]) => [name, w.stateMachine.stateMachineArn]))));
    const grantee: IGrantable = fn;
    for (const workflow of this.workflows.values()) {
      if (access === 'start') workflow.stateMachine.grantStartExecution(grantee);
      else {
        workflow.stateMachine.grantTaskResponse(grantee);
        workflow.stateMachine.grantExecution(grantee, 'states:StopExecution', 'states:DescribeExecution');
      }
    }
    if (access === 'control') {
      NagSuppressions.addResourceSuppressions(
        fn,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason: 'Stop and describe the executions of the workflows\' own state machines (execution:<machine>:*): execution names are the run ids, unknown at deploy time.',
            appliesTo: [{ regex: '/^Resource::arn:.*:states:.*:execution:.*\\*$/g' }],
          },
        ],
        true,
      );
    }
  }
}

/** The capabilities a workflow's steps (and their fallbacks) run. */
const stepCapabilities = (steps: readonly WorkflowDefinition['steps'][number][]): string[] =>
  steps.flatMap((step) => {
    if ('capability' in step) return [step.capability, ...(typeof step.onFailure === 'object' ? [step.onFailure.fallback.capability] : [])];
    if ('parallel' in step) return step.parallel.flatMap((branch) => stepCapabilities(branch));
    if ('choice' in step) return [...step.choice.cases.flatMap((c) => stepCapabilities(c.steps)), ...stepCapabilities(step.choice.otherwise)];
    return [];
  });

const stepTimeouts = (steps: readonly WorkflowDefinition['steps'][number][]): number[] =>
  steps.flatMap((step) => {
    if ('capability' in step) return [step.timeoutSeconds, ...(typeof step.onFailure === 'object' ? [step.onFailure.fallback.timeoutSeconds] : [])];
    if ('parallel' in step) return step.parallel.flatMap((branch) => stepTimeouts(branch));
    if ('choice' in step) return [...step.choice.cases.flatMap((c) => stepTimeouts(c.steps)), ...stepTimeouts(step.choice.otherwise)];
    return [];
  });
