import { createHash } from 'node:crypto';

/**
 * The tasks table's schema: the one definition the CDK construct (keys, indexes), the repository
 * (keys, index names, key prefixes) and the local cloud (through the template) share.
 *
 * Item:    pk = TENANT#<tenant>  sk = TASK#<taskId>
 * byCreated   (gsi1): gsi1pk = TENANT#<tenant>            gsi1sk = <createdAt>#<taskId>
 * byStatus    (gsi2): gsi2pk = TENANT#<tenant>#<status>   gsi2sk = <createdAt>#<taskId>
 * dispatchPending (gsi3, sparse): dpk = PENDING#<shard>   dsk = <createdAt>#<taskId>, present only while
 *   the queue message of a task is not confirmed sent.
 * deadLettered (gsi4, sparse): dlpk = DEAD#<priority>      dlsk = <tenant>#<createdAt>#<taskId>, present only while
 *   the task is failed with DEAD_LETTERED and may still be redriven (never redriven before). Across tenants, so
 *   an operator redrives a priority's dead letters in one query; `begins_with(dlsk, <tenant>#)` keeps one tenant's.
 * queued (gsi5, sparse): qpk = QUEUED#<priority>#<shard>   qsk = <waiting since>#<taskId>, present only while the task
 *   is queued below critical; across tenants, so the escalator finds a level's oldest waiting tasks in one query per shard.
 *   Waiting since: its last promotion, else its redrive, else its creation.
 * liveRuns (gsi6, sparse): rpk = RUNS#<shard>   rsk = <tenant>#<taskId>, present only while a workflow run has an
 *   execution and has not ended; across tenants, so the reconciler checks every live run's execution in a few queries.
 * claimable (gsi7, sparse): cpk = CLAIM#<tenant>#<capability>   csk = Q#<createdAt>#<taskId> while a pulled task is
 *   queued, L#<leaseUntil>#<taskId> while it is running (claimed by an external agent); absent otherwise. One partition
 *   per tenant and capability, so an agent's claim reads its tenant's rows only: the queued ones oldest first
 *   (begins_with Q#), and those whose lease ran out (L# up to now). A heartbeat moves the L# key.
 */
export const TASKS_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /**
   * `include`: the attributes an index holds besides the keys (none: KEYS_ONLY). Every reader
   * re-reads the task from the table (an index is eventually consistent), so an index holds only
   * what its query needs, and attributes that never change: a write that changes no index key
   * and no projected attribute then writes nothing to that index (docs/performance.md).
   */
  indexes: {
    byCreated: { indexName: 'byCreated', partitionKey: 'gsi1pk', sortKey: 'gsi1sk', include: [] },
    byStatus: { indexName: 'byStatus', partitionKey: 'gsi2pk', sortKey: 'gsi2sk', include: [] },
    dispatchPending: { indexName: 'dispatchPending', partitionKey: 'dpk', sortKey: 'dsk', include: ['tenantId', 'taskId'] },
    deadLettered: { indexName: 'deadLettered', partitionKey: 'dlpk', sortKey: 'dlsk', include: ['tenantId', 'taskId'] },
    queued: { indexName: 'queued', partitionKey: 'qpk', sortKey: 'qsk', include: ['tenantId', 'taskId', 'deadline'] },
    liveRuns: { indexName: 'liveRuns', partitionKey: 'rpk', sortKey: 'rsk', include: ['tenantId', 'taskId'] },
    claimable: { indexName: 'claimable', partitionKey: 'cpk', sortKey: 'csk', include: ['tenantId', 'taskId'] },
  },
} as const;

export type TasksTableIndex = (typeof TASKS_TABLE.indexes)[keyof typeof TASKS_TABLE.indexes];
export const TASKS_TABLE_INDEXES: readonly TasksTableIndex[] = Object.values(TASKS_TABLE.indexes);

/** Shards of the sparse dispatchPending index (so one hot partition never takes every pending task). */
export const DISPATCH_SHARDS = 8;

/** Shards of the sparse liveRuns index. */
export const RUN_SHARDS = 4;

/** Shards of the sparse queued index, per priority. */
export const QUEUED_SHARDS = 8;

/** Key values, built in one place. */
export const taskKeys = {
  tenant: (tenantId: string) => `TENANT#${tenantId}`,
  task: (taskId: string) => `TASK#${taskId}`,
  status: (tenantId: string, status: string) => `TENANT#${tenantId}#${status}`,
  /** Newest-first order within a partition: creation time, then id. */
  order: (createdAt: string, taskId: string) => `${createdAt}#${taskId}`,
  dispatchShard: (shard: number) => `PENDING#${shard}`,
  deadLettered: (priority: string) => `DEAD#${priority}`,
  /** Tenant ids hold no `#`, so `<tenant>#` prefixes that tenant's rows and no other's. */
  deadLetteredTenant: (tenantId: string) => `${tenantId}#`,
  deadLetteredOrder: (tenantId: string, createdAt: string, taskId: string) => `${tenantId}#${createdAt}#${taskId}`,
  queuedShard: (priority: string, shard: number) => `QUEUED#${priority}#${shard}`,
  runShard: (shard: number) => `RUNS#${shard}`,
  /** Capabilities hold no `#`, so a tenant's capability is its own partition. */
  claimable: (tenantId: string, capability: string) => `CLAIM#${tenantId}#${capability}`,
  /** A queued pulled task's row: oldest first under the `Q#` prefix. */
  claimableQueued: (createdAt: string, taskId: string) => `Q#${createdAt}#${taskId}`,
  /** A running pulled task's row: by lease expiry under the `L#` prefix (expired = up to now). */
  claimableLeased: (leaseUntil: string, taskId: string) => `L#${leaseUntil}#${taskId}`,
} as const;

/**
 * Per-tenant quota items, in the same table (no index keys, so no index rows):
 * pk = QUOTA#<tenant>  sk = BUCKET#<name>, one token bucket per tenant and limit (`submit`).
 */
export const quotaKeys = {
  tenant: (tenantId: string) => `QUOTA#${tenantId}`,
  bucket: (name: string) => `BUCKET#${name}`,
  /** One principal's tool-call bucket (per-principal limits): its subject hashed, so any subject of any length has one bounded key. */
  principal: (subject: string) => `PRINCIPAL#${createHash('sha256').update(subject, 'utf8').digest('base64url')}`,
} as const;

/**
 * The attribute DynamoDB's time to live reads (epoch seconds): items whose time has passed are
 * deleted within days. Set on role grants (kept for auditors long after they end) and on principals'
 * tool-call buckets (gone once idle). The table must enable TTL on it.
 */
export const TASKS_TABLE_TTL_ATTRIBUTE = 'expiresAt';

/**
 * Role grants (time-limited elevation), in the tenant's own partition (no index keys, so no index
 * rows; under the tenant-scoped IAM policy's LeadingKeys TENANT#<tenant>):
 * pk = TENANT#<tenant>  sk = GRANT#<subject, base64url>#<grantedAt stamp><random>. The grant id is
 * `<subject, base64url>.<grantedAt stamp><random>`, so the key follows from the id alone; base64url
 * holds neither `.` nor `#`, so `subject(s)` prefixes one subject's grants (oldest first) and no other's.
 */
export const grantKeys = {
  tenant: taskKeys.tenant,
  /** The prefix of every grant of the tenant. */
  all: 'GRANT#',
  subject: (subject: string) => `GRANT#${Buffer.from(subject, 'utf8').toString('base64url')}#`,
  grant: (grantId: string) => `GRANT#${grantId.replace('.', '#')}`,
} as const;

/**
 * Workflow step records, in the same table beside their run's task item (same partition, no index
 * keys, so no index rows): pk = TENANT#<tenant>  sk = TASK#<runId>#STEP#<stepId>. The run's own item
 * is `TASK#<runId>` exactly, so a task's get never meets a step, and `begins_with(sk, run(runId))`
 * finds a run's steps and nothing else (step ids hold no `#`).
 */
export const stepKeys = {
  tenant: taskKeys.tenant,
  /** The prefix of every step item of one run. */
  run: (runId: string) => `TASK#${runId}#STEP#`,
  step: (runId: string, stepId: string) => `TASK#${runId}#STEP#${stepId}`,
} as const;

/** Agents' routing state (statistics, breaker), one partition, no index rows: pk = AGENTS, sk = AGENT#<agentId>. */
export const agentKeys = {
  partition: 'AGENTS',
  agent: (agentId: string) => `AGENT#${agentId}`,
} as const;
