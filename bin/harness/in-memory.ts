import { ConcurrencyError } from '../../lambdas/domain/errors';
import type { ExecutionStatus, WorkflowEngine } from '../../lambdas/domain/workflow-ports';
import type { AgentHealth, AgentState, AgentStateStore } from '../../lambdas/domain/agent-routing';
import type { ClaimableQuery, Clock, QuotaDecision, TenantQuota, ListTasksQuery, Logger, PromotableQuery, RedrivableQuery, TaskEvent, TaskPage, TaskPatch, TaskQueue, TaskRepository, TaskTelemetry } from '../../lambdas/domain/ports';
import { isClaimable, isPromotable, isRedrivable, queuedSince } from '../../lambdas/domain/task';
import type { Priority, Task, TaskMessage } from '../../lambdas/domain/task';
import type { Principal } from '../../lambdas/domain/principal';
import type { AccessPolicy } from '../../lambdas/domain/access';
import { cedarAccessPolicy } from '../../lambdas/adapters/cedar-access-policy';
import { POLICIES_DIR } from '../../lib/policies';
import type { StepRecord, StepStore } from '../../lambdas/domain/workflow-ports';
import type { PrincipalDecision, PrincipalLimiter, RevokeOutcome, RoleGrantPage, RoleGrantQuery, RoleGrants } from '../../lambdas/domain/ports';
import type { Role } from '../../lambdas/domain/principal';
import { isActive as isGrantActive, type RoleGrant } from '../../lambdas/domain/role-grants';
import { limitOf, toolCallRate } from '../../lambdas/domain/principal-limits';
import { gcra } from '../../lambdas/domain/rate-limit';
import type { PrincipalLimits } from '../../lambdas/contracts/auth';

/** An in-memory repository with the same optimistic-version contract as the DynamoDB one. */
export class InMemoryTaskRepository implements TaskRepository {
  readonly items = new Map<string, Task>();
  writes = 0;

  private key = (tenantId: string, taskId: string) => `${tenantId}/${taskId}`;

  async create(task: Task) {
    const existing = this.items.get(this.key(task.tenantId, task.taskId));
    if (existing) return { created: false, task: structuredClone(existing) };
    this.writes += 1;
    this.items.set(this.key(task.tenantId, task.taskId), structuredClone(task));
    return { created: true, task: structuredClone(task) };
  }

  async get(tenantId: string, taskId: string) {
    const task = this.items.get(this.key(tenantId, taskId));
    return task ? structuredClone(task) : undefined;
  }

  async list(tenantId: string, query: ListTasksQuery): Promise<TaskPage> {
    const all = [...this.items.values()]
      .filter((t) => t.tenantId === tenantId && (!query.status || t.status === query.status))
      .sort((a, b) => (a.createdAt + a.taskId < b.createdAt + b.taskId ? 1 : -1));
    const start = query.cursor ? Number(query.cursor) : 0;
    const page = all.slice(start, start + query.limit);
    return { tasks: page, ...(start + query.limit < all.length ? { nextCursor: String(start + query.limit) } : {}) };
  }

  async update(task: Task, patch: TaskPatch, now: Date) {
    const stored = this.items.get(this.key(task.tenantId, task.taskId));
    if (!stored || stored.version !== task.version) throw new ConcurrencyError('version changed');
    const { removeLease, removeLeaseId, removeError, removeApproval, ...changes } = patch;
    const next: Task = { ...stored, ...changes, version: stored.version + 1, updatedAt: now.toISOString() };
    if (removeLease) delete next.leaseUntil;
    if (removeLease || removeLeaseId) delete next.leaseId;
    if (removeError) delete next.error;
    if (removeApproval) delete next.approval;
    this.writes += 1;
    this.items.set(this.key(task.tenantId, task.taskId), next);
    return structuredClone(next);
  }

  async listLiveRuns(limit: number) {
    return [...this.items.values()]
      .filter((t) => t.workflow !== undefined && t.execution !== undefined && !['succeeded', 'failed', 'cancelled'].includes(t.status))
      .slice(0, limit)
      .map((t) => structuredClone(t));
  }

  async listDispatchPending(before: Date, limit: number) {
    return [...this.items.values()].filter((t) => t.dispatchPending && t.createdAt < before.toISOString()).slice(0, limit);
  }

  async listPromotable(query: PromotableQuery) {
    return [...this.items.values()]
      .filter((t) => isPromotable(t, query))
      .sort((a, b) => (queuedSince(a) < queuedSince(b) ? -1 : 1))
      .slice(0, query.limit)
      .map((t) => structuredClone(t));
  }

  async listClaimable(query: ClaimableQuery) {
    return [...this.items.values()]
      .filter((t) => t.tenantId === query.tenantId && query.capabilities.includes(t.capability) && isClaimable(t, query.now.getTime()))
      .sort((a, b) => (`${a.createdAt}#${a.taskId}` < `${b.createdAt}#${b.taskId}` ? -1 : 1))
      .slice(0, query.limit)
      .map((t) => structuredClone(t));
  }

  async listRedrivable(query: RedrivableQuery) {
    return [...this.items.values()]
      .filter((t) => t.priority === query.priority && (query.tenantId === undefined || t.tenantId === query.tenantId) && isRedrivable(t))
      .sort((a, b) => (`${a.tenantId}#${a.createdAt}#${a.taskId}` < `${b.tenantId}#${b.createdAt}#${b.taskId}` ? -1 : 1))
      .slice(0, query.limit)
      .map((t) => structuredClone(t));
  }
}

export class RecordingQueue implements TaskQueue {
  readonly sent: { message: TaskMessage; priority: Priority; deduplicationId?: string }[] = [];
  failNext = 0;

  async send(message: TaskMessage, priority: Priority, _messageGroup?: string, deduplicationId?: string) {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('queue unavailable');
    }
    this.sent.push({ message, priority, ...(deduplicationId !== undefined ? { deduplicationId } : {}) });
  }
}

export class ManualClock implements Clock {
  constructor(private current = new Date('2026-11-25T12:00:00.000Z')) {}
  now() {
    return new Date(this.current);
  }
  advance(ms: number) {
    this.current = new Date(this.current.getTime() + ms);
  }
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

let access: AccessPolicy | undefined;
/** The platform's access policy (the Cedar files of lib/policies the gateway ships), loaded once per process. */
export const platformAccess = (): AccessPolicy => (access ??= cedarAccessPolicy(POLICIES_DIR));

export const principal = (tenantId = 'acme', roles: Principal['roles'] = ['submitter']): Principal => ({
  tenantId,
  subject: `user@${tenantId}`,
  roles,
});

export class RecordingTelemetry {
  readonly events: string[] = [];
  record(event: string, _task: unknown, code?: string) {
    this.events.push(code ? `${event}:${code}` : event);
  }
}

/** Terminal events per task id, across every process of a test: exactly one per acknowledged task. */
export class TerminalEvents implements TaskTelemetry {
  readonly byTask = new Map<string, TaskEvent[]>();
  record(event: TaskEvent, task: Pick<Task, 'priority' | 'capability'>) {
    if (!['succeeded', 'failed', 'cancelled'].includes(event)) return;
    const id = (task as Task).taskId;
    this.byTask.set(id, [...(this.byTask.get(id) ?? []), event]);
  }
}

/** A tenant quota of in-flight slots only (no rate), counting in memory: what the DynamoDB one keeps per tenant. */
export class InFlightQuota implements TenantQuota {
  readonly inFlight = new Map<string, number>();
  releases = 0;

  constructor(private readonly maxInFlight: number) {}

  async admitSubmit(tenantId: string): Promise<QuotaDecision> {
    const now = this.inFlight.get(tenantId) ?? 0;
    if (now >= this.maxInFlight) return { admitted: false, limit: 'inFlight', maxInFlight: this.maxInFlight, retryAfterSeconds: 2 };
    this.inFlight.set(tenantId, now + 1);
    return { admitted: true };
  }

  async releaseInFlight(tenantId: string): Promise<void> {
    this.releases += 1;
    this.inFlight.set(tenantId, Math.max(0, (this.inFlight.get(tenantId) ?? 0) - 1));
  }

  async occupyInFlight(tenantId: string): Promise<void> {
    this.inFlight.set(tenantId, (this.inFlight.get(tenantId) ?? 0) + 1);
  }
}

/** An in-memory step store with the same contract as the DynamoDB one (conditional saves on `version`, outputs as JSON). */
export class InMemoryStepStore implements StepStore {
  readonly items = new Map<string, StepRecord>();
  writes = 0;

  private key = (tenantId: string, runId: string, stepId: string) => `${tenantId}/${runId}/${stepId}`;

  async get(tenantId: string, runId: string, stepId: string) {
    const record = this.items.get(this.key(tenantId, runId, stepId));
    return record ? structuredClone(record) : undefined;
  }

  async list(tenantId: string, runId: string) {
    return [...this.items.values()]
      .filter((r) => r.tenantId === tenantId && r.runId === runId)
      .sort((a, b) => (a.startedAt === b.startedAt ? (a.stepId < b.stepId ? -1 : 1) : a.startedAt < b.startedAt ? -1 : 1))
      .map((r) => structuredClone(r));
  }

  async save(record: StepRecord) {
    const key = this.key(record.tenantId, record.runId, record.stepId);
    const stored = this.items.get(key);
    if (record.version === 0 ? stored !== undefined : stored?.version !== record.version - 1) {
      throw new ConcurrencyError(`step ${record.stepId} changed since version ${record.version - 1}`);
    }
    // As DynamoDB keeps it: the output through JSON, undefined attributes dropped.
    const kept = JSON.parse(JSON.stringify(record)) as StepRecord;
    this.writes += 1;
    this.items.set(key, kept);
    return structuredClone(kept);
  }
}

/** A workflow engine that runs nothing: it records starts, stops and answers, and says RUNNING until stopped. */
export class RecordingWorkflowEngine implements WorkflowEngine {
  readonly started: { workflow: string; name: string; input: unknown }[] = [];
  readonly stopped: string[] = [];
  readonly answers: { token: string; outcome: 'success' | 'failure'; payload: unknown }[] = [];

  constructor(private readonly names: readonly string[]) {}

  workflows() {
    return [...this.names];
  }

  async start(workflow: string, name: string, input: unknown) {
    if (!this.started.some((s) => s.name === name)) this.started.push({ workflow, name, input });
    return { executionArn: `arn:aws:states:us-east-1:000000000000:execution:${workflow}:${name}` };
  }

  async stop(executionArn: string) {
    this.stopped.push(executionArn);
  }

  async status(executionArn: string): Promise<{ status: ExecutionStatus } | undefined> {
    return { status: this.stopped.includes(executionArn) ? 'ABORTED' : 'RUNNING' };
  }

  async sendSuccess(token: string, output: unknown) {
    if (this.answers.some((a) => a.token === token)) return false;
    this.answers.push({ token, outcome: 'success', payload: output });
    return true;
  }

  async sendFailure(token: string, error: string, cause: string) {
    if (this.answers.some((a) => a.token === token)) return false;
    this.answers.push({ token, outcome: 'failure', payload: { error, cause } });
    return true;
  }
}

/** Agents' routing state in memory (leases always granted; health not kept): the registry's fake. */
export class InMemoryAgentStateStore implements AgentStateStore {
  readonly items = new Map<string, AgentState>();
  async list() {
    return [...this.items.values()];
  }
  async get(id: string) {
    return this.items.get(id);
  }
  async register(agent: Parameters<AgentStateStore['register']>[0], now: Date) {
    const old = this.items.get(agent.agentId);
    this.items.set(agent.agentId, {
      inFlight: 0, ewmaLatencyMs: 0, successRate: 1, calls: 0, circuit: 'closed', consecutiveFailures: 0, version: 0, ...old, ...agent, updatedAt: now.toISOString(),
    });
  }
  async deregister(id: string) {
    return this.items.delete(id);
  }
  async lease() {
    return true;
  }
  async unlease() {}
  async saveHealth(_id: string, _h: AgentHealth) {}
}


/** Role grants in memory, with the DynamoDB adapter's contract (history kept, revoke only while active). */
export class InMemoryRoleGrants implements RoleGrants {
  readonly items = new Map<string, RoleGrant>();

  private key = (tenantId: string, grantId: string) => `${tenantId}/${grantId}`;

  async grant(grant: RoleGrant) {
    if (this.items.has(this.key(grant.tenantId, grant.grantId))) throw new ConcurrencyError('grant id taken');
    this.items.set(this.key(grant.tenantId, grant.grantId), structuredClone(grant));
  }

  async revoke(tenantId: string, grantId: string, revokedBy: string, now: Date): Promise<RevokeOutcome> {
    const stored = this.items.get(this.key(tenantId, grantId));
    if (!stored) return undefined;
    if (!isGrantActive(stored, now)) return { grant: structuredClone(stored), revoked: false };
    const revoked = { ...stored, revokedAt: now.toISOString(), revokedBy };
    this.items.set(this.key(tenantId, grantId), revoked);
    return { grant: structuredClone(revoked), revoked: true };
  }

  async list(tenantId: string, query: RoleGrantQuery): Promise<RoleGrantPage> {
    const all = [...this.items.values()]
      .filter((g) => g.tenantId === tenantId && (query.subject === undefined || g.subject === query.subject))
      .sort((a, b) => (a.grantId < b.grantId ? -1 : 1));
    const start = query.cursor ? Number(query.cursor) : 0;
    const page = all.slice(start, start + query.limit).map((g) => structuredClone(g));
    return { grants: page, ...(start + query.limit < all.length ? { nextCursor: String(start + query.limit) } : {}) };
  }

  async active(tenantId: string, subject: string, now: Date): Promise<Role[]> {
    return [...new Set([...this.items.values()].filter((g) => g.tenantId === tenantId && g.subject === subject && isGrantActive(g, now)).map((g) => g.role))];
  }
}

/** Per-principal GCRA buckets in memory (one process), at limitOf the principal's roles. */
export class InMemoryPrincipalLimiter implements PrincipalLimiter {
  readonly tat = new Map<string, number>();

  constructor(private readonly limits: PrincipalLimits) {}

  async admit(who: Principal, now: Date): Promise<PrincipalDecision> {
    const { toolCallsPerMinute } = limitOf(who, this.limits);
    const rate = gcra(toolCallRate({ toolCallsPerMinute }), now.getTime());
    const key = `${who.tenantId}/${who.subject}`;
    const tat = this.tat.get(key);
    if (tat === undefined || tat <= now.getTime()) this.tat.set(key, rate.idleNext);
    else if (tat <= rate.admitUntil) this.tat.set(key, tat + rate.interval);
    else return { admitted: false, retryAfterSeconds: rate.retryAfterSeconds(tat), toolCallsPerMinute };
    return { admitted: true };
  }
}

// ---- Audit log fakes (docs/audit.md) ----
import type { AuditDigestStore, AuditHead, AuditStore, StoredAuditItem } from '../../lambdas/domain/audit';
import { GENESIS_HASH, type AuditEntry, type SignedAuditDigest } from '../../lambdas/contracts/audit';

/**
 * The audit store in memory, with the same contract as DynamoDbAuditStore (a taken seq throws
 * ConcurrencyError). `items` is open so tests can tamper with a log as an attacker with table access
 * would: any value at any seq (undefined entry = an item that is no valid entry).
 */
export class InMemoryAuditStore implements AuditStore {
  readonly items = new Map<string, Map<number, AuditEntry | undefined>>();

  tenant(tenantId: string): Map<number, AuditEntry | undefined> {
    let log = this.items.get(tenantId);
    if (!log) this.items.set(tenantId, (log = new Map()));
    return log;
  }

  async head(tenantId: string): Promise<AuditHead | undefined> {
    const seqs = [...this.tenant(tenantId).keys()];
    if (seqs.length === 0) return undefined;
    const seq = seqs.reduce((a, b) => Math.max(a, b));
    return { seq, hash: this.tenant(tenantId).get(seq)?.hash ?? GENESIS_HASH };
  }

  async append(entry: AuditEntry): Promise<void> {
    const log = this.tenant(entry.tenantId);
    if (log.has(entry.seq)) throw new ConcurrencyError(`audit seq ${entry.seq} is taken`);
    log.set(entry.seq, structuredClone(entry));
  }

  async list(tenantId: string, range: { fromSeq: number; toSeq?: number; limit: number }): Promise<StoredAuditItem[]> {
    return [...this.tenant(tenantId).entries()]
      .filter(([seq]) => seq >= range.fromSeq && (range.toSeq === undefined || seq <= range.toSeq))
      .sort(([a], [b]) => a - b)
      .slice(0, range.limit)
      .map(([seq, entry]) => ({ seq, entry: entry && structuredClone(entry) }));
  }

  readonly registered = new Set<string>();

  async registerTenant(tenantId: string): Promise<void> {
    this.registered.add(tenantId);
  }

  async tenants(): Promise<string[]> {
    return [...this.registered].sort();
  }
}

export class InMemoryAuditDigestStore implements AuditDigestStore {
  readonly digests: SignedAuditDigest[] = [];

  async put(digest: SignedAuditDigest): Promise<void> {
    if (this.digests.some((d) => d.digest.tenantId === digest.digest.tenantId && d.digest.toSeq === digest.digest.toSeq))
      throw new ConcurrencyError(`a digest up to seq ${digest.digest.toSeq} exists`);
    this.digests.push(structuredClone(digest));
  }

  async list(tenantId: string, range: { fromSeq: number; toSeq?: number }): Promise<SignedAuditDigest[]> {
    return this.digests
      .filter((d) => d.digest.tenantId === tenantId && d.digest.toSeq >= range.fromSeq && (range.toSeq === undefined || d.digest.toSeq <= range.toSeq))
      .sort((a, b) => a.digest.toSeq - b.digest.toSeq)
      .map((d) => structuredClone(d));
  }

  async latest(tenantId: string): Promise<SignedAuditDigest | undefined> {
    return (await this.list(tenantId, { fromSeq: 1 })).at(-1);
  }
}
