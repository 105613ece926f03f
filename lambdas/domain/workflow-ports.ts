import type { TaskError } from './task';

/**
 * The record of one step of one workflow run: what get_task shows per step, and what makes a step
 * idempotent (a step whose record says succeeded is not run again: its output is returned).
 * Kept beside the run's task item (same partition), one item per step, so parallel branches never
 * write the same item.
 */
export type StepStatus = 'running' | 'succeeded' | 'failed' | 'waiting_approval';

export interface StepRecord {
  tenantId: string;
  runId: string;
  stepId: string;
  kind: 'agent' | 'approval';
  status: StepStatus;
  /** Agent steps: attempts started so far. Approval steps: the gate's level (1, or 2 once escalated). */
  attempts: number;
  capability?: string;
  /** The step's output (an agent's result, an approval's decision). */
  output?: unknown;
  error?: TaskError;
  /** Approval steps: who may decide, what they are asked, until when. */
  approval?: { roles: string[]; prompt?: string; level: number; deadline: string };
  /** Optimistic concurrency, as tasks: each save is conditional on the version read. */
  version: number;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
}

export interface StepStore {
  get(tenantId: string, runId: string, stepId: string): Promise<StepRecord | undefined>;
  /** Every step record of a run, in the order the steps started. */
  list(tenantId: string, runId: string): Promise<StepRecord[]>;
  /**
   * Writes `record` if the stored one still has `record.version - 1` (or, for version 0, none
   * exists); ConcurrencyError otherwise.
   */
  save(record: StepRecord): Promise<StepRecord>;
}

/** A state machine execution's status, as Step Functions reports it. */
export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'PENDING_REDRIVE';

/**
 * The workflow engine (on AWS: Step Functions; locally: the local cloud's service behind the same
 * SDK client). Starting is idempotent by execution name: a second start of the same name with the
 * same input gives the same execution.
 */
export interface WorkflowEngine {
  /** The workflows it can run. */
  workflows(): string[];
  start(workflow: string, executionName: string, input: unknown): Promise<{ executionArn: string }>;
  stop(executionArn: string, cause: string): Promise<void>;
  /** Undefined: no such execution (or one the engine cannot describe, as Step Functions an Express one). */
  status(executionArn: string): Promise<{ status: ExecutionStatus; error?: string; cause?: string } | undefined>;
  /** Answers a waiting Task state; false when the token is no longer waited for (decided, timed out). */
  sendSuccess(token: string, output: unknown): Promise<boolean>;
  sendFailure(token: string, error: string, cause: string): Promise<boolean>;
}
