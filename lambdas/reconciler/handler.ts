import type { ScheduledEvent } from 'aws-lambda';
import { systemClock } from '../domain/ports';
import { redispatchPending, type DispatchDeps } from '../domain/use-cases/dispatch';
import { escalateAged, type AgingMs } from '../domain/use-cases/escalate';
import { instrument, lambdaEntry } from '../adapters/lambda-entry';
import { createObservability, envelopeSettings, taskQueue, taskSealing, tasksRepository, tenantQuota, workflowEngine, type AwsClientConfig } from '../adapters/runtime';
import { watchRuns } from '../domain/use-cases/watch-runs';
import type { WorkflowEngine } from '../domain/workflow-ports';
import { AuditedTaskRepository } from '../domain/audited-tasks';
import { auditUpkeep, type AuditUpkeepDeps } from '../domain/use-cases/audit-upkeep';
import { auditDigestStore, auditSigning, auditStore } from '../adapters/audit-runtime';
import { agingMsOf, ENV, queueUrlsOf, readEnv, ReconcilerEnvSchema, type Env } from '../contracts';

/** A task whose dispatch is unconfirmed after this long is assumed orphaned by a crash. */
export const ORPHAN_AFTER_MS = 30_000;

/**
 * Scheduled: finishes the dispatch of tasks whose submitter died between the write and the send,
 * then promotes queued tasks that waited past their level's SLA or whose deadline is near (the escalator),
 * then checks the workflow runs whose execution may have ended unrecorded (watchRuns).
 */
export const makeHandler = (deps: DispatchDeps & { workflows?: WorkflowEngine; audit?: Omit<AuditUpkeepDeps, 'tasks' | 'clock' | 'logger'> }, agingMs: AgingMs) => async (_event: ScheduledEvent) => ({
  redispatched: await redispatchPending(deps, { olderThanMs: ORPHAN_AFTER_MS, limit: 100 }),
  promoted: (await escalateAged(deps, { agingMs, limit: 100 })).length,
  ...(deps.workflows ? { runs: await watchRuns({ ...deps, workflows: deps.workflows }, { limit: 100 }) } : {}),
  // The audit log: intents a crash left open are completed, the chains since their last digest signed.
  ...(deps.audit ? { audit: await auditUpkeep({ ...deps.audit, tasks: deps.tasks, clock: deps.clock, logger: deps.logger }) } : {}),
});

export const createHandler = (rawEnv: Env, aws: AwsClientConfig = {}) => {
  const observability = createObservability('reconciler', rawEnv);
  const { logger, tracer, telemetry } = observability;
  const env = readEnv(ReconcilerEnvSchema, rawEnv);
  const workflows = workflowEngine(env[ENV.workflows], aws, tracer);
  const quotas = env[ENV.quotas];
  const signer = auditSigning(env, aws, tracer);
  const audit = auditStore(env[ENV.auditTable], aws, tracer);
  return instrument(
    makeHandler({
      // Its transitions (re-dispatch, promotion, runs ended unrecorded) in the tenants' audit logs.
      tasks: new AuditedTaskRepository(
        tasksRepository(env[ENV.tasksTable], aws, tracer, taskSealing(envelopeSettings(env[ENV.classifications], rawEnv), aws, tracer)),
        { store: audit, clock: systemClock, logger },
        'reconciler',
      ),
      queue: taskQueue(queueUrlsOf(env), aws, tracer),
      clock: systemClock,
      logger,
      telemetry,
      ...(workflows ? { workflows } : {}),
      ...(quotas ? { quota: tenantQuota(env[ENV.tasksTable], quotas, aws, tracer) } : {}),
      audit: {
        store: audit,
        digests: auditDigestStore(env[ENV.auditTable], aws, tracer, env[ENV.auditDigestBucket]),
        ...(signer ? { signer } : {}),
      },
    }, agingMsOf(env)),
    observability,
  );
};

export const handler = lambdaEntry(() => createHandler(process.env));
