import type * as z from 'zod';
import type { Priority, Task, TaskMessage, TaskStatus } from './task';
import type { Principal, Role } from './principal';
import type { RoleGrant } from './role-grants';

export interface ListTasksQuery {
  status?: TaskStatus;
  limit: number;
  cursor?: string;
}

export interface TaskPage {
  tasks: Task[];
  nextCursor?: string;
}

/** Changes a state transition may make; the repository bumps `version` and `updatedAt` itself. */
export type TaskPatch = Partial<
  Pick<
    Task,
    'status' | 'attempts' | 'result' | 'error' | 'leaseUntil' | 'leaseId' | 'pull' | 'dispatchPending' | 'redrivenAt' | 'priority' | 'priorityChanges' | 'execution' | 'approval' | 'decisions'
  >
> & {
  /** Removes `leaseUntil` and `leaseId`. */
  removeLease?: boolean;
  /** Removes `leaseId` only (a pulled task given back: its lease ends now, nobody holds it). */
  removeLeaseId?: boolean;
  removeError?: boolean;
  removeApproval?: boolean;
};

/** Which redrivable tasks to find: one priority's, across tenants or of one tenant. */
export interface RedrivableQuery {
  priority: Priority;
  /** Absent: every tenant's. */
  tenantId?: string;
  limit: number;
}

/** Which queued tasks of one priority the escalator may promote. */
export interface PromotableQuery {
  priority: Priority;
  /** Waiting at this priority since before this (`queuedSince`)... */
  waitingBefore: Date;
  /** ...or with a deadline before this. */
  deadlineBefore: Date;
  limit: number;
}

/** Which tasks an external agent may claim: one tenant's, of some capabilities (`isClaimable` at `now`). */
export interface ClaimableQuery {
  tenantId: string;
  capabilities: readonly string[];
  now: Date;
  limit: number;
}

export interface TaskRepository {
  /** Creates the task unless one with the same id exists; returns the stored task either way. */
  create(task: Task): Promise<{ created: boolean; task: Task }>;
  get(tenantId: string, taskId: string): Promise<Task | undefined>;
  list(tenantId: string, query: ListTasksQuery): Promise<TaskPage>;
  /**
   * Applies `patch` only if the stored version still equals `task.version` (optimistic concurrency).
   * Throws ConcurrencyError when it does not.
   */
  update(task: Task, patch: TaskPatch, now: Date): Promise<Task>;
  /** Up to `limit` workflow runs with an execution that have not ended, across tenants, re-read after the index. */
  listLiveRuns(limit: number): Promise<Task[]>;
  /** Tasks whose dispatch to the queue is not yet confirmed and that were created before `before`. */
  listDispatchPending(before: Date, limit: number): Promise<Task[]>;
  /** Up to `limit` tasks that are redrivable (`isRedrivable`) now, oldest first, re-read after the index. */
  listRedrivable(query: RedrivableQuery): Promise<Task[]>;
  /** Up to `limit` tasks queued at the query's priority that match it now, across tenants, re-read after the index. */
  listPromotable(query: PromotableQuery): Promise<Task[]>;
  /** Up to `limit` of the tenant's tasks claimable now (`isClaimable`), oldest first (createdAt, taskId), re-read after the index. */
  listClaimable(query: ClaimableQuery): Promise<Task[]>;
}

export interface TaskQueue {
  /**
   * Sends to the FIFO queue of `priority` with message group `messageGroup` and deduplication id
   * `deduplicationId` (`messageGroupOf`, `deduplicationIdOf` in message-group.ts).
   */
  send(message: TaskMessage, priority: Priority, messageGroup: string, deduplicationId: string): Promise<void>;
}

export interface AgentContext {
  tenantId: string;
  taskId: string;
  attempt: number;
  signal?: AbortSignal;
}

export interface Agent {
  readonly capability: string;
  readonly description: string;
  /** What the agent accepts; a task whose input does not fit is refused at submit. Absent: any JSON. */
  readonly input?: z.ZodType;
  run(input: unknown, context: AgentContext): Promise<unknown>;
}

export interface AgentRegistry {
  get(capability: string): Agent | undefined;
  capabilities(): string[];
  /** Who offers what (absent: every capability is its own built-in agent). */
  offers?(): { agentId: string; kind: string; capabilities: string[] }[];
}

export interface Clock {
  now(): Date;
}

export interface Logger {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/**
 * What a quota answers: admitted, or not before `retryAfterSeconds` because the tenant's submit
 * rate is used up (`rate`) or it has its most tasks in flight (`inFlight`, with that limit).
 */
export type QuotaDecision =
  | { admitted: true }
  | { admitted: false; retryAfterSeconds: number; limit: 'rate' }
  | { admitted: false; retryAfterSeconds: number; limit: 'inFlight'; maxInFlight: number };

/**
 * Per-tenant limits that hold across every gateway instance (on AWS: a token bucket item per
 * tenant in DynamoDB, refilled and taken from in one conditional write).
 */
export interface TenantQuota {
  /**
   * Takes one submit from the tenant's bucket and one of its in-flight slots (a new task), or says
   * when to try again.
   */
  admitSubmit(tenantId: string, now: Date): Promise<QuotaDecision>;
  /**
   * Gives back the in-flight slot of a task that reached a terminal state (or that was admitted
   * but never created). Called once per terminal transition, by its winner; a slot never given
   * back (a crash in between) is found by the next recount.
   */
  releaseInFlight(tenantId: string): Promise<void>;
  /** Takes an in-flight slot whatever the limit: a terminal task made live again by an operator (a redrive). */
  occupyInFlight(tenantId: string): Promise<void>;
}

export const systemClock: Clock = { now: () => new Date() };

/** What happened to a task, for metrics. */
export type TaskEvent = 'submitted' | 'replayed' | 'redispatched' | 'started' | 'retried' | 'succeeded' | 'failed' | 'cancelled' | 'redriven' | 'promoted';

/** Counts task events (on AWS: CloudWatch metrics by priority and capability, failures by code). */
export interface TaskTelemetry {
  record(event: TaskEvent, task: Pick<Task, 'priority' | 'capability'>, code?: string): void;
}

export const noTelemetry: TaskTelemetry = { record: () => undefined };

/** Everything the task use-cases may need; each takes the part it uses. */
export interface TaskServiceDeps {
  tasks: TaskRepository;
  queue: TaskQueue;
  agents: AgentRegistry;
  clock: Clock;
  logger: Logger;
  telemetry?: TaskTelemetry;
  /** Absent: no per-tenant quota (the API's stage throttle still applies). */
  quota?: TenantQuota;
  /** Capabilities run by external agents that claim their tasks over MCP (PULL_CAPABILITIES); absent: none. */
  pullCapabilities?: readonly string[];
}

/** Which grants of a tenant to list: all, or one subject's; `cursor` from the previous page. */
export interface RoleGrantQuery {
  subject?: string;
  limit: number;
  cursor?: string;
}

export interface RoleGrantPage {
  grants: RoleGrant[];
  nextCursor?: string;
}

/** What revoking found: the grant as it is after the call, and whether this call revoked it. */
export type RevokeOutcome = { grant: RoleGrant; revoked: boolean } | undefined;

/**
 * Role grants of each tenant (time-limited elevation), kept after they end for auditors. On AWS:
 * items in the tenant's partition of the tasks table, one Query reads a subject's.
 */
export interface RoleGrants {
  /** Stores a new grant (its id is unique: never overwrites). */
  grant(grant: RoleGrant): Promise<void>;
  /**
   * Marks the grant revoked by `revokedBy` at `now` if it is active then; otherwise changes
   * nothing and returns it as it is (`revoked: false`), or undefined when the tenant has no such grant.
   */
  revoke(tenantId: string, grantId: string, revokedBy: string, now: Date): Promise<RevokeOutcome>;
  /** The tenant's grants, every status, by subject then oldest first. */
  list(tenantId: string, query: RoleGrantQuery): Promise<RoleGrantPage>;
  /** The roles of the subject's grants active at `now` (read on every call: one query). */
  active(tenantId: string, subject: string, now: Date): Promise<Role[]>;
}

/** What a per-principal limiter answers: admitted, or not before `retryAfterSeconds` (the limit it applied). */
export type PrincipalDecision = { admitted: true } | { admitted: false; retryAfterSeconds: number; toolCallsPerMinute: number };

/** Tool calls per minute per principal (tenant + subject), across every gateway instance. */
export interface PrincipalLimiter {
  admit(principal: Principal, now: Date): Promise<PrincipalDecision>;
}
