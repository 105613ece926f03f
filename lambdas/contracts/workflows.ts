import * as z from 'zod';

/**
 * Workflows as configuration: the one definition the YAML files under lib/workflows/ are validated
 * against (lib/workflows.ts loads them), the CDK construct compiles to a state machine
 * (lib/constructs/workflow.ts), and the workflow functions read back (the step events below).
 *
 * A workflow's state while it runs (the execution's JSON):
 *   { run: { tenantId, taskId }, input: <the run's input>, steps: { <stepId>: { output } | { error } } }
 * A mapping refers to it with JSONPath: `$.input.<path>` or `$.steps.<stepId>.output.<path>`, of
 * a step that runs before (the loader checks it).
 */

export const WorkflowNameSchema = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'lower-case letters, digits and -, at most 40');
export const StepIdSchema = z.string().regex(/^[a-z][a-zA-Z0-9_]{0,47}$/, 'a letter, then letters, digits and _, at most 48');

/** Roles a gate may ask to decide (the platform's roles that may approve). */
export const APPROVER_ROLES = ['approver', 'admin'] as const;
export const ApproverRoleSchema = z.enum(APPROVER_ROLES);

export const RetryPolicySchema = z
  .object({
    /** Attempts in all, the first included (1: no retry). */
    attempts: z.number().int().min(1).max(10).default(3),
    intervalSeconds: z.number().int().min(1).max(3600).default(1),
    backoffRate: z.number().min(1).max(10).default(2),
    maxDelaySeconds: z.number().int().min(1).max(3600).optional(),
    /** Full jitter on each backoff (Step Functions' JitterStrategy FULL). */
    jitter: z.boolean().default(true),
  })
  .strict();
export type RetryPolicy = z.infer<typeof RetryPolicySchema>;

/** A value, or a JSONPath string (`$.input…`, `$.steps.<id>.output…`) resolved when the step runs. */
const MappingSchema = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'a plain key'), z.unknown());

const AgentStepFields = {
  id: StepIdSchema,
  /** The agent capability to run, e.g. "echo". */
  capability: z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'a capability: lower-case letters, digits, _ . -'),
  /** The agent's input: an object whose string values starting with `$.` are references. */
  input: MappingSchema.default({}),
  timeoutSeconds: z.number().int().min(1).max(900).default(60),
  retry: RetryPolicySchema.default({ attempts: 3, intervalSeconds: 1, backoffRate: 2, jitter: true }),
};

export const FallbackStepSchema = z.object(AgentStepFields).strict();

export const AgentStepSchema = z
  .object({
    ...AgentStepFields,
    /** After the last attempt failed: fail the run, go on (the step's result is its error), or run a fallback step. */
    onFailure: z.union([z.enum(['fail', 'continue']), z.object({ fallback: FallbackStepSchema }).strict()]).default('fail'),
  })
  .strict();

export const ApprovalStepSchema = z
  .object({
    id: StepIdSchema,
    approval: z
      .object({
        /** Who may decide; never the run's submitter alone. */
        roles: z.array(ApproverRoleSchema).min(1).default(['approver']),
        /** What the approver is asked (shown by get_task). */
        prompt: z.string().max(500).optional(),
        timeoutSeconds: z.number().int().min(1).max(7 * 24 * 3600),
        /** No answer in time: ask these roles, once more, or (absent) fail the run with APPROVAL_TIMEOUT. */
        escalate: z.object({ roles: z.array(ApproverRoleSchema).min(1), timeoutSeconds: z.number().int().min(1).max(7 * 24 * 3600) }).strict().optional(),
      })
      .strict(),
  })
  .strict();

export type AgentStep = z.infer<typeof AgentStepSchema>;
export type ApprovalStep = z.infer<typeof ApprovalStepSchema>;
export type ParallelStep = { id: string; parallel: Step[][] };
export type ChoiceStep = {
  id: string;
  choice: { variable: string; cases: { equals: string | number | boolean; steps: Step[] }[]; otherwise: Step[] };
};
export type Step = AgentStep | ApprovalStep | ParallelStep | ChoiceStep;

export const StepSchema: z.ZodType<Step, unknown> = z.lazy(() =>
  z.union([
    AgentStepSchema,
    ApprovalStepSchema,
    z.object({ id: StepIdSchema, parallel: z.array(z.array(StepSchema).min(1)).min(2).max(10) }).strict(),
    z
      .object({
        id: StepIdSchema,
        choice: z
          .object({
            /** `$.input.<path>` or `$.steps.<id>.output.<path>`: compared with each case's `equals`. */
            variable: z.string().regex(/^\$\.(input|steps\.[a-z][a-zA-Z0-9_]*\.output)(\.[A-Za-z0-9_]+)*$/),
            cases: z.array(z.object({ equals: z.union([z.string(), z.number(), z.boolean()]), steps: z.array(StepSchema) }).strict()).min(1),
            otherwise: z.array(StepSchema).default([]),
          })
          .strict(),
      })
      .strict(),
  ]),
) as z.ZodType<Step, unknown>;

export const WorkflowDefinitionSchema = z
  .object({
    name: WorkflowNameSchema,
    description: z.string().min(1).max(500),
    /** JSON Schema-free: the run's input is any JSON object up to 64 KiB. */
    steps: z.array(StepSchema).min(1),
    /** The whole run, at most (the state machine's TimeoutSeconds). */
    timeoutSeconds: z.number().int().min(1).max(365 * 24 * 3600).optional(),
  })
  .strict();
export type WorkflowDefinition = z.infer<typeof WorkflowDefinitionSchema>;

export const isApprovalStep = (step: Step): step is ApprovalStep => 'approval' in step;
export const isParallelStep = (step: Step): step is ParallelStep => 'parallel' in step;
export const isChoiceStep = (step: Step): step is ChoiceStep => 'choice' in step;
export const isAgentStep = (step: Step): step is AgentStep => 'capability' in step;

/** Step outputs above this many bytes (serialized) stay in the step store; the state carries `{ "$ref": … }`. */
export const INLINE_OUTPUT_BYTES = 8 * 1024;

/** The run a step belongs to: the run is a task (kind `workflow`), its id the task id. */
export const RunRefSchema = z.object({ tenantId: z.string().min(1), taskId: z.string().min(1) }).strict();
export type RunRef = z.infer<typeof RunRefSchema>;

/**
 * What the workflow function receives from a Task state (the Lambda invoke's Payload), one schema
 * per action: run an agent step, open an approval gate (with the task token), record the run's end.
 */
export const StepEventSchema = z.discriminatedUnion('action', [
  z
    .object({
      action: z.literal('run'),
      run: RunRefSchema,
      stepId: StepIdSchema,
      capability: z.string().min(1),
      input: z.unknown(),
      timeoutSeconds: z.number().int().positive(),
    })
    .strict(),
  z
    .object({
      action: z.literal('approve'),
      run: RunRefSchema,
      stepId: StepIdSchema,
      roles: z.array(ApproverRoleSchema).min(1),
      prompt: z.string().optional(),
      timeoutSeconds: z.number().int().positive(),
      /** 1: the gate's first approvers; 2: the escalation. */
      level: z.union([z.literal(1), z.literal(2)]),
      taskToken: z.string().min(1),
    })
    .strict(),
  z
    .object({
      /** A step of a pull capability: an external agent claims it (a task of the run's tenant), the state machine waits for the token. */
      action: z.literal('pull'),
      run: RunRefSchema,
      stepId: StepIdSchema,
      capability: z.string().min(1),
      input: z.unknown(),
      timeoutSeconds: z.number().int().positive(),
      taskToken: z.string().min(1),
    })
    .strict(),
  z
    .object({
      action: z.literal('finish'),
      run: RunRefSchema,
      outcome: z.enum(['succeeded', 'failed']),
      /** succeeded: the state's steps; failed: Step Functions' error (Error, Cause) or a code of ours. */
      steps: z.unknown().optional(),
      error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).passthrough().optional(),
    })
    .strict(),
]);
export type StepEvent = z.infer<typeof StepEventSchema>;

/** What an agent step returns to the state machine (the Task state keeps `output`). */
export interface StepResult {
  output: unknown;
}

/** Error names the workflow function throws, which Retry and Catch match. */
export const STEP_ERRORS = {
  /** The agent failed or returned what its schema refuses: retried. */
  failed: 'StepFailed',
  /** The agent did not answer within the step's timeout: retried. */
  timedOut: 'StepTimedOut',
  /** The run is no longer running (cancelled, finished): never retried; the execution should stop. */
  runClosed: 'RunClosed',
  /** An approver rejected the gate (SendTaskFailure). */
  rejected: 'REJECTED',
} as const;

/** Error codes a failed run ends with (its task's error.code). */
export const RUN_ERRORS = {
  stepFailed: 'STEP_FAILED',
  rejected: 'REJECTED',
  approvalTimeout: 'APPROVAL_TIMEOUT',
  workflowFailed: 'WORKFLOW_FAILED',
} as const;
