import { OpenedValues } from '../domain/envelope';
import { AssumeRoleCommand, type AssumeRoleCommandOutput } from '@aws-sdk/client-sts';
import { TenantIdSchema } from '../contracts/tenant';
import type { Task } from '../domain/task';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ClaimableQuery, ListTasksQuery, TaskPage, TaskPatch, TaskRepository } from '../domain/ports';
import { DynamoDbTaskRepository } from './dynamodb-task-repository';
import type { PrincipalLimits, QuotaSettings } from '../contracts';
import { DynamoDbRoleGrants } from './dynamodb-role-grants';
import { DynamoDbPrincipalLimiter } from './dynamodb-principal-limiter';
import { DynamoDbStepStore } from './dynamodb-step-store';
import { DynamoDbTenantQuota } from './dynamodb-tenant-quota';
import { dynamoDbClient, stsClient, taskSealing, type AwsClientConfig, type EnvelopeSettings } from './runtime';

type Tracer = Parameters<typeof dynamoDbClient>[1];

/** Temporary credentials of one tenant's session of the tenant-scoped role. */
export interface TenantCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

/** What the cache needs of an STS client (the SDK's STSClient; a fake in unit tests). */
export interface AssumeRoleClient {
  send(command: AssumeRoleCommand): Promise<AssumeRoleCommandOutput>;
}

export interface TenantCredentialsOptions {
  /** Session length asked of STS (AssumeRole's minimum is 900 s). */
  durationSeconds?: number;
  /** A session is renewed this long before it expires, so no request goes out with expiring credentials. */
  refreshBeforeMs?: number;
  /** Tenants whose sessions a container keeps; the least recently used is dropped beyond it. */
  maxTenants?: number;
  now?: () => number;
}

/** The session tag the tenant-scoped role's policy reads (`aws:PrincipalTag/tenant`). */
export const TENANT_SESSION_TAG = 'tenant';

/** A bounded least-recently-used map: what a container keeps per tenant. */
export class BoundedCache<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error(`BoundedCache: max ${max} is not a positive integer`);
  }

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  getOrCreate(key: string, create: () => V): V {
    const found = this.get(key);
    if (found !== undefined) return found;
    const created = create();
    this.set(key, created);
    return created;
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * Credentials scoped to one tenant: the tenant-scoped role assumed with the tenant as the session
 * tag `tenant`, so its policy's `dynamodb:LeadingKeys` conditions on `${aws:PrincipalTag/tenant}`
 * confine every table call to that tenant's partitions. One session per tenant per container,
 * renewed before it expires; concurrent requests of a tenant share one AssumeRole call.
 */
export class TenantCredentialsCache {
  private readonly sessions: BoundedCache<Promise<TenantCredentials>>;
  private readonly durationSeconds: number;
  private readonly refreshBeforeMs: number;
  private readonly now: () => number;

  constructor(
    private readonly sts: AssumeRoleClient,
    private readonly roleArn: string,
    options: TenantCredentialsOptions = {},
  ) {
    this.durationSeconds = options.durationSeconds ?? 900;
    this.refreshBeforeMs = options.refreshBeforeMs ?? 120_000;
    this.now = options.now ?? Date.now;
    this.sessions = new BoundedCache(options.maxTenants ?? 200);
  }

  async credentialsFor(tenantId: string): Promise<TenantCredentials> {
    const tenant = TenantIdSchema.parse(tenantId);
    const cached = this.sessions.get(tenant);
    if (cached) {
      const credentials = await cached.catch(() => undefined);
      if (credentials && credentials.expiration.getTime() - this.refreshBeforeMs > this.now()) return credentials;
      // Expiring or failed: only the first caller to notice replaces it.
      if (this.sessions.get(tenant) !== cached) return this.credentialsFor(tenant);
    }
    const session = this.assume(tenant);
    this.sessions.set(tenant, session);
    session.catch(() => this.sessions.get(tenant) === session && this.sessions.delete(tenant));
    return session;
  }

  /** An SDK credentials provider for one tenant (a DynamoDB client's `credentials`). */
  provider(tenantId: string): () => Promise<TenantCredentials> {
    return () => this.credentialsFor(tenantId);
  }

  private async assume(tenant: string): Promise<TenantCredentials> {
    const { Credentials: c } = await this.sts.send(
      new AssumeRoleCommand({
        RoleArn: this.roleArn,
        RoleSessionName: `switchboard-${tenant}`.slice(0, 64),
        DurationSeconds: this.durationSeconds,
        Tags: [{ Key: TENANT_SESSION_TAG, Value: tenant }],
      }),
    );
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
      throw new Error('AssumeRole returned no credentials');
    }
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: new Date(c.Expiration) };
  }
}

/**
 * A principal's task repository on the tenant-scoped credentials. Every read or write of a task
 * goes to `of(tenantId)`: the repository on the scoped credentials of the principal's tenant (or,
 * for a principal that acts across tenants — the operator's redrive of every tenant's dead
 * letters — of the task's own tenant). Only the shared dead-letter index (`DEAD#<priority>`) is
 * queried with the function's own credentials, whose policy allows those partitions and no
 * tenant's; its hits are re-read through `get`, so on the tenant-scoped credentials too.
 */
export class TenantRoutedTaskRepository extends DynamoDbTaskRepository {
  constructor(
    ownClient: DynamoDBClient,
    tableName: string,
    private readonly of: (tenantId: string) => TaskRepository,
  ) {
    super(ownClient, tableName);
  }

  override create(task: Task) {
    return this.of(task.tenantId).create(task);
  }
  override get(tenantId: string, taskId: string) {
    return this.of(tenantId).get(tenantId, taskId);
  }
  override list(tenantId: string, query: ListTasksQuery): Promise<TaskPage> {
    return this.of(tenantId).list(tenantId, query);
  }
  override update(task: Task, patch: TaskPatch, now: Date) {
    return this.of(task.tenantId).update(task, patch, now);
  }
  override listClaimable(query: ClaimableQuery) {
    return this.of(query.tenantId).listClaimable(query);
  }
  // listRedrivable: inherited (the DEAD# index on the function's own credentials, re-read through get).
  // The cross-tenant scans of the reconciler and escalator are not a tenant-facing function's:
  override listLiveRuns(): Promise<Task[]> {
    return Promise.reject(new Error('listLiveRuns is not available to a tenant-facing function'));
  }
  override listDispatchPending(): Promise<Task[]> {
    return Promise.reject(new Error('listDispatchPending is not available to a tenant-facing function'));
  }
  override listPromotable(): Promise<Task[]> {
    return Promise.reject(new Error('listPromotable is not available to a tenant-facing function'));
  }
}

/** The repositories that hold a tenant's data: its tasks, workflow steps, role grants, quota and principals' buckets. */
export interface TenantData {
  tasks: TaskRepository;
  roleGrants: DynamoDbRoleGrants;
  steps?: DynamoDbStepStore;
  quota?: DynamoDbTenantQuota;
  /** Tool calls per minute of the tenant's principals (PRINCIPAL_LIMITS), in the tenant's QUOTA# partition. */
  limiter?: DynamoDbPrincipalLimiter;
}

export interface TenantDataSettings {
  tableName: string;
  /** The tenant-scoped role (TENANT_ROLE_ARN); absent: every tenant's data on the function's own credentials. */
  roleArn?: string;
  quotas?: QuotaSettings;
  limits?: PrincipalLimits;
  workflows: boolean;
  maxTenants?: number;
  /**
   * Sealing of sensitive task data (CLASSIFICATIONS, the data keys); absent: nothing sealed. With a
   * tenant-scoped role, KMS is called on the tenant's session too: the role's policy lets it use a
   * data key only with its own tenant in the encryption context.
   */
  envelope?: EnvelopeSettings;
}

/**
 * The tenant data repositories of a principal, built once per tenant per container: with a
 * tenant-scoped role, on that tenant's session of it (what IAM lets touch only the tenant's
 * partitions); without, on the function's own client. `acrossTenants`: the principal acts on other
 * tenants' tasks (the operator's redrive), each through its own tenant's session.
 */
export const tenantDataRepositories = (settings: TenantDataSettings, aws: AwsClientConfig, tracer?: Tracer) => {
  // The local key file (LOCAL ONLY) is read once; KMS clients are per session, like the DynamoDB ones.
  const localSealing = settings.envelope?.keyFile ? taskSealing(settings.envelope, aws, tracer) : undefined;
  // What the tenants' envelopes opened, under one memory budget for the container.
  const opened = new OpenedValues();
  // One DynamoDB client (and KMS client) per tenant session, shared by the tenant's repositories.
  const build = (clients: AwsClientConfig): TenantData => {
    const client = dynamoDbClient(clients, tracer);
    const sealing = localSealing ?? taskSealing(settings.envelope, clients, tracer, opened);
    return {
      tasks: new DynamoDbTaskRepository(client, settings.tableName, sealing),
      roleGrants: new DynamoDbRoleGrants(client, settings.tableName),
      ...(settings.limits ? { limiter: new DynamoDbPrincipalLimiter(client, settings.tableName, settings.limits) } : {}),
      ...(settings.workflows ? { steps: new DynamoDbStepStore(client, settings.tableName, sealing) } : {}),
      ...(settings.quotas ? { quota: new DynamoDbTenantQuota(client, settings.tableName, settings.quotas) } : {}),
    };
  };
  if (!settings.roleArn) {
    const own = build(aws);
    return (_tenantId: string, _acrossTenants = false): TenantData => own;
  }
  const credentials = new TenantCredentialsCache(stsClient(aws, tracer), settings.roleArn, { maxTenants: settings.maxTenants ?? 200 });
  const ownClient = dynamoDbClient(aws, tracer);
  const scoped = new BoundedCache<TenantData>(settings.maxTenants ?? 200);
  const dataOf = (tenantId: string) =>
    scoped.getOrCreate(tenantId, () => {
      const session = credentials.provider(tenantId);
      return build({ ...aws, dynamodb: { ...aws.dynamodb, credentials: session }, kms: { ...aws.kms, credentials: session } });
    });
  const routed = new BoundedCache<TaskRepository>(2 * (settings.maxTenants ?? 200));
  return (tenantId: string, acrossTenants = false): TenantData => ({
    ...dataOf(tenantId),
    tasks: routed.getOrCreate(`${tenantId}${acrossTenants ? '*' : ''}`, () =>
      new TenantRoutedTaskRepository(ownClient, settings.tableName, (taskTenant) => dataOf(acrossTenants ? taskTenant : tenantId).tasks),
    ),
  });
};
