import { systemSubject, type AuditEntry, type AuditOutcome } from '../../contracts/audit';
import type { AuditDigestStore, AuditSigner, AuditStore } from '../audit';
import type { Clock, Logger, TaskRepository } from '../ports';
import { appendAudit, AuditTamperedError, readRange, writeAuditDigest } from './audit';

/**
 * The reconciler's care of the audit log (docs/audit.md), for each tenant with a log:
 *  1. completes the intents left pending longer than the grace period (a gateway that died between
 *     the intent and the outcome entry), from the state of their target: a task updated at or after
 *     the intent → `ok`; a task that does not exist or did not change since → `error ABANDONED`; any
 *     other target → `error UNCONFIRMED` (the outcome cannot be read back);
 *  2. signs a digest of the chain since the previous digest, up to the entry before the oldest intent
 *     still within its grace period (so a digest never ends before an open intent's outcome could be
 *     appended... and every intent it covers is completed).
 * A chain that does not verify is never signed: it is reported (AUDIT_TAMPERED in the log) and the
 * other tenants go on.
 */

/** How long an intent may wait for its outcome entry before the reconciler completes it. */
export const AUDIT_INTENT_GRACE_MS = 5 * 60_000;
/** Entries one run reads per tenant at most (the rest waits for the next run). */
export const AUDIT_UPKEEP_MAX_ENTRIES = 10_000;

export interface AuditUpkeepDeps {
  store: AuditStore;
  digests: AuditDigestStore;
  /** Absent: intents are completed, no digest is signed. */
  signer?: AuditSigner;
  tasks: Pick<TaskRepository, 'get'>;
  clock: Clock;
  logger: Logger;
}

export interface AuditUpkeepReport {
  tenants: number;
  completed: number;
  digests: number;
  /** Tenants whose chain did not verify (no digest signed for them). */
  tampered: string[];
}

const outcomeFromTarget = async (deps: AuditUpkeepDeps, intent: AuditEntry): Promise<AuditOutcome> => {
  const taskId = intent.target?.startsWith('task:') ? intent.target.slice('task:'.length) : undefined;
  if (taskId === undefined) return { status: 'error', code: 'UNCONFIRMED' };
  const task = await deps.tasks.get(intent.tenantId, taskId);
  return task && Date.parse(task.updatedAt) >= Date.parse(intent.time) ? { status: 'ok' } : { status: 'error', code: 'ABANDONED' };
};

export const auditUpkeep = async (deps: AuditUpkeepDeps, options: { graceMs?: number } = {}): Promise<AuditUpkeepReport> => {
  const graceMs = options.graceMs ?? AUDIT_INTENT_GRACE_MS;
  const report: AuditUpkeepReport = { tenants: 0, completed: 0, digests: 0, tampered: [] };
  for (const tenantId of await deps.store.tenants()) {
    report.tenants++;
    try {
      const digested = (await deps.digests.latest(tenantId))?.digest.toSeq ?? 0;
      // Read once: the intents come from these items, and the digest verifies them without reading them again.
      const items = await readRange(deps.store, tenantId, digested + 1, undefined, { max: AUDIT_UPKEEP_MAX_ENTRIES });
      const entries = items.flatMap((item) => (item.entry ? [item.entry] : []));
      if (entries.length === 0) continue;
      const completed = new Set(entries.flatMap((entry) => (entry.completes === undefined ? [] : [entry.completes])));
      const now = deps.clock.now().getTime();
      let openFrom: number | undefined;
      for (const intent of entries.filter((entry) => entry.outcome.status === 'pending' && !completed.has(entry.seq))) {
        if (now - Date.parse(intent.time) < graceMs) {
          openFrom ??= intent.seq;
          continue;
        }
        await appendAudit(deps, {
          tenantId,
          subject: systemSubject('reconciler'),
          kind: intent.kind,
          action: intent.action,
          decision: intent.decision,
          outcome: await outcomeFromTarget(deps, intent),
          requestId: intent.requestId,
          ...(intent.target ? { target: intent.target } : {}),
          completes: intent.seq,
        });
        report.completed++;
      }
      if (!deps.signer) continue;
      // Up to the entry before the oldest intent still in its grace period (its outcome may yet come).
      const upTo = openFrom === undefined ? undefined : openFrom - 1;
      if (upTo !== undefined && upTo <= digested) continue;
      const signed = await writeAuditDigest({ ...deps, signer: deps.signer }, tenantId, digested + 1, upTo, items);
      if (signed) report.digests++;
    } catch (error) {
      if (error instanceof AuditTamperedError) {
        report.tampered.push(tenantId);
        deps.logger.error('audit log does not verify: no digest signed', { tenantId, code: error.code, findings: error.findings.slice(0, 10) });
        continue;
      }
      deps.logger.error('audit upkeep failed for a tenant', { tenantId, error: String(error) });
    }
  }
  return report;
};
