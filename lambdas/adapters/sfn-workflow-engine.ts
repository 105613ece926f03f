import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  InvalidArn,
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  StartExecutionCommand,
  StopExecutionCommand,
  TaskDoesNotExist,
  TaskTimedOut,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import type { ExecutionStatus, WorkflowEngine } from '../domain/workflow-ports';

/** The execution ARN of `name` on a state machine: Step Functions builds it the same way. */
export const executionArnOf = (stateMachineArn: string, name: string): string =>
  `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;

/** Step Functions behind the WorkflowEngine port; `machines` maps a workflow name to its state machine ARN. */
export class SfnWorkflowEngine implements WorkflowEngine {
  constructor(
    private readonly client: SFNClient,
    private readonly machines: Readonly<Record<string, string>>,
  ) {}

  workflows(): string[] {
    return Object.keys(this.machines);
  }

  async start(workflow: string, executionName: string, input: unknown): Promise<{ executionArn: string }> {
    const stateMachineArn = this.machines[workflow];
    if (!stateMachineArn) throw new Error(`workflow "${workflow}" is not deployed`);
    try {
      const { executionArn } = await this.client.send(new StartExecutionCommand({ stateMachineArn, name: executionName, input: JSON.stringify(input) }));
      return { executionArn: executionArn! };
    } catch (error) {
      // Started before (a redelivery after a crash between the start and its record): the same execution.
      if (error instanceof ExecutionAlreadyExists) return { executionArn: executionArnOf(stateMachineArn, executionName) };
      throw error;
    }
  }

  async stop(executionArn: string, cause: string): Promise<void> {
    try {
      await this.client.send(new StopExecutionCommand({ executionArn, cause: cause.slice(0, 256) }));
    } catch (error) {
      if (!(error instanceof ExecutionDoesNotExist)) throw error;
    }
  }

  async status(executionArn: string): Promise<{ status: ExecutionStatus; error?: string; cause?: string } | undefined> {
    try {
      const { status, error, cause } = await this.client.send(new DescribeExecutionCommand({ executionArn }));
      return { status: status as ExecutionStatus, ...(error ? { error } : {}), ...(cause ? { cause } : {}) };
    } catch (error) {
      // Express executions cannot be described (InvalidArn): the caller falls back on the run's age.
      if (error instanceof ExecutionDoesNotExist || error instanceof InvalidArn) return undefined;
      throw error;
    }
  }

  async sendSuccess(token: string, output: unknown): Promise<boolean> {
    return this.answered(() => this.client.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output ?? null) })));
  }

  async sendFailure(token: string, error: string, cause: string): Promise<boolean> {
    return this.answered(() => this.client.send(new SendTaskFailureCommand({ taskToken: token, error, cause: cause.slice(0, 32_768) })));
  }

  private async answered(send: () => Promise<unknown>): Promise<boolean> {
    try {
      await send();
      return true;
    } catch (error) {
      if (error instanceof TaskTimedOut || error instanceof TaskDoesNotExist || error instanceof InvalidToken) return false;
      throw error;
    }
  }
}
