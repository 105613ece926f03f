import type { Context } from 'aws-lambda';
import { StepEventSchema, type StepResult } from '../contracts/workflows';
import { systemClock } from '../domain/ports';
import { runStep, type RunStepDeps } from '../domain/use-cases/run-step';
import { finishRun, offerPulledStep, openApprovalGate } from '../domain/use-cases/workflow-runs';
import type { LifecycleDeps } from '../domain/task-lifecycle';
import { instrument, lambdaEntry } from '../adapters/lambda-entry';
import { createObservability, deploymentAgents, envelopeSettings, sfnClient, stepStore, taskSealing, tasksRepository, tenantQuota, type AwsClientConfig } from '../adapters/runtime';
import { auditedTasks } from '../adapters/audit-runtime';
import { SfnWorkflowEngine } from '../adapters/sfn-workflow-engine';
import type { WorkflowEngine } from '../domain/workflow-ports';
import { ENV, readEnv, WorkflowEnvSchema, type Env } from '../contracts';

/** `workflows` answers task tokens only (a resumed run's gate decided before); no machine ARNs needed. */
export type WorkflowFunctionDeps = RunStepDeps & LifecycleDeps & { workflows?: WorkflowEngine };

/**
 * The one function every Task state of every workflow invokes: run an agent step, open an approval
 * gate (the Task state waits for its token), or record the run's end. Errors keep their names
 * (StepFailed, StepTimedOut, RunClosed): the state machine's Retry and Catch match them. A payload
 * that is not a step event is a bug in a definition: it fails, named, and is never retried.
 */
export const makeHandler = (deps: WorkflowFunctionDeps) => async (event: unknown): Promise<StepResult | { status: string } | null> => {
  const parsed = StepEventSchema.safeParse(event);
  if (!parsed.success) {
    deps.logger.error('not a step event', { issues: parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`) });
    throw Object.assign(new Error('not a step event'), { name: 'InvalidStepEvent' });
  }
  const step = parsed.data;
  switch (step.action) {
    case 'run':
      return runStep(deps, step);
    case 'approve':
      await openApprovalGate(deps, step);
      return null;
    case 'pull':
      await offerPulledStep(deps, step);
      return null;
    case 'finish':
      return finishRun(deps, step);
  }
};

export const createHandler = (rawEnv: Env, aws: AwsClientConfig = {}) => {
  const observability = createObservability('workflow', rawEnv);
  const { logger, tracer, telemetry } = observability;
  const env = readEnv(WorkflowEnvSchema, rawEnv);
  const quotas = env[ENV.quotas];
  const agents = deploymentAgents({ builtIns: env[ENV.enabledAgents], connectors: env[ENV.connectors], secretsFile: env[ENV.secretsFile], tasksTable: env[ENV.tasksTable] }, aws, logger, tracer);
  // Sensitive run and step data sealed with the data keys (locally: the local key file); absent CLASSIFICATIONS: none.
  const sealing = taskSealing(envelopeSettings(env[ENV.classifications], rawEnv), aws, tracer);
  const handler = makeHandler({
    tasks: auditedTasks(tasksRepository(env[ENV.tasksTable], aws, tracer, sealing), env[ENV.auditTable], 'workflow', logger, aws, tracer),
    steps: stepStore(env[ENV.tasksTable], aws, tracer, sealing),
    agents,
    clock: systemClock,
    logger,
    telemetry,
    ...(quotas ? { quota: tenantQuota(env[ENV.tasksTable], quotas, aws, tracer) } : {}),
    workflows: new SfnWorkflowEngine(sfnClient(aws, tracer), {}),
  });
  return instrument(async (event: unknown, _context: Context) => (await agents.ready(), handler(event)), observability);
};

export const handler = lambdaEntry(() => createHandler(process.env));
