import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  matchesTrailFilter,
  normalizeTrailRecord,
  trailTime,
  type TrailEvent,
  type TrailFilter,
  type TrailRecord,
  type TrailUserIdentity,
} from '../../lambdas/adapters/cloudtrail-events';
import type { SdkPlugin } from '../../lambdas/adapters/runtime';
import { sdkOperationOf, tableSchemasOf } from './cost-meter';
import { iamRole } from './resources/iam-role';
import { physicalName, type ProvisionContext } from './resources/resource-handler';
import type { SynthesizedStack } from './synth';

/**
 * LOCAL ONLY: a stand-in for CloudTrail. It records the management and data events the local cloud
 * performs — every AWS SDK call a function (or the local cloud's own event source pollers) makes, and
 * every function invocation (Lambda `Invoke` data events) — as CloudTrail records (eventVersion
 * 1.09), so `npm run -s audit -- trail` reads the same shape locally as on AWS (docs/audit.md,
 * "Local CloudTrail").
 *
 * - Attribution: `invocation()` runs each invocation in an AsyncLocalStorage holding the function, so
 *   an SDK call names the function's execution role session (`assumed-role/<role>/<function>`), as on
 *   AWS; a call signed with credentials from an `AssumeRole` it saw (the gateway's tenant-scoped
 *   sessions) names that session. Calls outside any invocation are the event source mappings'
 *   (`AWSService`, `lambda.amazonaws.com`).
 * - Contents: `requestParameters` carry identifiers only — table, index and key attributes, queue
 *   URL, state machine or execution ARN, role ARN and session name, function name — never an item's
 *   other attributes, expression values, message bodies, execution input or task output.
 * - Volume: a long poll that received nothing (`ReceiveMessage` with no message) is not recorded, or
 *   idle pollers (one request a second each) would fill the trail.
 * - Store: records are buffered and appended in batches (every `flushMs`) as JSON lines to one file
 *   per UTC day under `dir` (`<account>_CloudTrail_<region>_<YYYYMMDD>.jsonl`, as CloudTrail delivers
 *   per account, region and time); the last `keep` records stay in memory (all there is for
 *   `--in-memory`). Both are bounded: past `maxPending` unwritten records, the oldest are dropped
 *   and counted.
 */

/** A role as IAM would name it locally (bin/local-cloud/resources/iam-role.ts). */
export interface TrailRole {
  name: string;
  arn: string;
  /** The role's unique id (`AROA…`). */
  id: string;
}

/** The roles of the synthesized templates, and the role each function runs as. */
export interface TrailIdentities {
  functionRoles: Map<string, TrailRole>;
  roles: Map<string, TrailRole>;
}

/** Reads each function's execution role from the templates (`Role: Fn::GetAtt [<role>, Arn]`), named as iam-role.ts names roles. */
export const trailIdentitiesOf = (stacks: readonly SynthesizedStack[], accountId: string): TrailIdentities => {
  // iam-role.ts's identity needs nothing of the context but the account.
  const ctx = { accountId } as Pick<ProvisionContext, 'accountId'> as ProvisionContext;
  const byLogicalId = new Map<string, TrailRole>();
  for (const { stackName, template } of stacks)
    for (const [id, resource] of Object.entries(template.Resources)) {
      if (resource.Type !== iamRole.type) continue;
      const identity = iamRole.identity(ctx, { stackName, id, resource });
      byLogicalId.set(`${stackName}/${id}`, { name: String(identity.ref), arn: String(identity.attributes?.['Arn']), id: String(identity.attributes?.['RoleId']) });
    }
  const functionRoles = new Map<string, TrailRole>();
  for (const { stackName, template } of stacks)
    for (const [id, resource] of Object.entries(template.Resources)) {
      if (resource.Type !== 'AWS::Lambda::Function') continue;
      const role = (resource.Properties?.['Role'] as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt']?.[0];
      const found = role ? byLogicalId.get(`${stackName}/${role}`) : undefined;
      if (found) functionRoles.set(physicalName(stackName, id), found);
    }
  return { functionRoles, roles: new Map([...byLogicalId.values()].map((role) => [role.arn, role])) };
};

/** The trail's own figures: what it recorded, wrote and dropped, and its cost per recorded call. */
export interface TrailStats {
  recorded: number;
  written: number;
  dropped: number;
  /** Microseconds spent building records, in total (divide by `recorded`). */
  recordMicros: number;
}

export interface LocalTrailOptions {
  region: string;
  accountId: string;
  identities?: TrailIdentities;
  /** Table name → its key attributes (`tableSchemasOf`), so a PutItem records its item's key only. */
  tableKeys?: ReadonlyMap<string, readonly string[]>;
  /** Where the daily files go; absent: in memory only (`--in-memory`). */
  dir?: string;
  /** Records kept in memory (default 10 000). */
  keep?: number;
  /** Records waiting for the disk at most (default 50 000). */
  maxPending?: number;
  flushMs?: number;
  now?: () => Date;
  log?: (message: string) => void;
}

/** The daily file a record goes to. */
export const trailFileName = (accountId: string, region: string, day: string) => `${accountId}_CloudTrail_${region}_${day}.jsonl`;
const TRAIL_FILE = /^(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8})\.jsonl$/;

/** `eventTime` as CloudTrail writes it: seconds, Z. */
const eventTime = trailTime;

const SERVICES: Record<string, string> = {
  DynamoDB: 'dynamodb.amazonaws.com',
  SQS: 'sqs.amazonaws.com',
  SFN: 'states.amazonaws.com',
  STS: 'sts.amazonaws.com',
  KMS: 'kms.amazonaws.com',
  SecretsManager: 'secretsmanager.amazonaws.com',
  BedrockRuntime: 'bedrock.amazonaws.com',
  Lambda: 'lambda.amazonaws.com',
  CloudTrail: 'cloudtrail.amazonaws.com',
};

/** CloudTrail's data events among the calls the platform makes; everything else is a management event. */
const DATA_EVENTS: Record<string, ReadonlySet<string>> = {
  'dynamodb.amazonaws.com': new Set(['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query', 'Scan', 'BatchGetItem', 'BatchWriteItem', 'TransactGetItems', 'TransactWriteItems']),
  'sqs.amazonaws.com': new Set(['SendMessage', 'SendMessageBatch', 'ReceiveMessage', 'DeleteMessage', 'DeleteMessageBatch', 'ChangeMessageVisibility', 'ChangeMessageVisibilityBatch']),
  'lambda.amazonaws.com': new Set(['Invoke']),
};
const READ_ONLY = /^(Get|Describe|List|Query|Scan|BatchGet|TransactGet|Receive|Lookup|AssumeRole|Converse|InvokeModel|Verify)/;

type AttributeValue = Record<string, unknown>;
/** A key attribute's value as CloudTrail shows keys: the plain string or number. */
const plain = (value: unknown): unknown => {
  const v = value as AttributeValue | undefined;
  if (!v || typeof v !== 'object') return value;
  if (typeof v['S'] === 'string') return v['S'];
  if (typeof v['N'] === 'string') return v['N'];
  if (v['B'] !== undefined) return '(binary)';
  return '(value)';
};
const keyOf = (source: unknown, names: readonly string[] | undefined): Record<string, unknown> | undefined => {
  if (!source || typeof source !== 'object') return undefined;
  const record = source as Record<string, unknown>;
  const keys = names ?? Object.keys(record);
  const key = Object.fromEntries(keys.filter((name) => record[name] !== undefined).map((name) => [name, plain(record[name])]));
  return Object.keys(key).length ? key : undefined;
};

interface Described {
  requestParameters: Record<string, unknown> | null;
  resources: { accountId: string; type: string; ARN: string }[];
}

/** The caller of an invocation: the service whose event it is (by the event's shape). */
export const invokedByOf = (event: unknown): string => {
  const e = (event ?? {}) as Record<string, unknown>;
  const records = e['Records'] as { eventSource?: unknown }[] | undefined;
  if (Array.isArray(records) && records[0]?.eventSource === 'aws:sqs') return 'lambda.amazonaws.com';
  if (e['source'] === 'aws.events') return 'events.amazonaws.com';
  if (e['requestContext'] !== undefined || e['httpMethod'] !== undefined || e['type'] === 'TOKEN' || e['type'] === 'REQUEST') return 'apigateway.amazonaws.com';
  return 'states.amazonaws.com';
};

const str = (value: unknown) => (typeof value === 'string' ? value : undefined);
const resourceOf = (accountId: string, type: string, ARN: string) => ({ accountId, type, ARN });

/** An AWSService caller. */
const serviceIdentity = (service: string): TrailUserIdentity => ({ type: 'AWSService', invokedBy: service });

export class LocalTrail {
  private readonly caller = new AsyncLocalStorage<string>();
  private readonly recent: TrailRecord[] = [];
  private pending: string[] = [];
  private pendingDays: string[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly sessions = new Map<string, { arn: string; principalId: string; role: TrailRole | undefined }>();
  private readonly identities = new Map<string, TrailUserIdentity>();
  private readonly stats_: TrailStats = { recorded: 0, written: 0, dropped: 0, recordMicros: 0 };
  private readonly keep: number;
  private readonly maxPending: number;
  private readonly now: () => Date;
  private createdDir = false;
  private warnedDrop = false;

  constructor(private readonly options: LocalTrailOptions) {
    this.keep = options.keep ?? 10_000;
    this.maxPending = options.maxPending ?? 50_000;
    this.now = options.now ?? (() => new Date());
  }

  /** The trail for the local cloud's templates: roles from the templates, key attributes from the tables. */
  static forStacks(stacks: readonly SynthesizedStack[], options: Omit<LocalTrailOptions, 'identities' | 'tableKeys'>): LocalTrail {
    const tableKeys = new Map([...tableSchemasOf(stacks)].map(([name, schema]) => [name, schema.keys]));
    return new LocalTrail({ ...options, identities: trailIdentitiesOf(stacks, options.accountId), tableKeys });
  }

  /** Runs one invocation of `name`: records its Invoke data event, and attributes its SDK calls to it. */
  invocation<T>(name: string, event: unknown, run: () => Promise<T>, requestId: string = randomUUID()): Promise<T> {
    const started = performance.now();
    const arn = `arn:aws:lambda:${this.options.region}:${this.options.accountId}:function:${name}`;
    const invokedBy = invokedByOf(event);
    this.record(
      {
        userIdentity: serviceIdentity(invokedBy),
        sourceIPAddress: invokedBy,
        userAgent: invokedBy,
        eventSource: 'lambda.amazonaws.com',
        eventName: 'Invoke',
        requestParameters: { functionName: arn },
        resources: [{ accountId: this.options.accountId, type: 'AWS::Lambda::Function', ARN: arn }],
        requestID: requestId,
      },
      started,
    );
    return this.caller.run(name, run);
  }

  /** The SDK plugin (AwsClientConfig.plugins): one record per request sent, after signing (each retry is a request). */
  readonly sdkPlugin: SdkPlugin = {
    applyToStack: (stack) => {
      stack.add(
        (next, context) => async (args) => {
          const { service, operation } = sdkOperationOf(context);
          const headers = (args.request as { headers?: Record<string, string> } | undefined)?.headers ?? {};
          const accessKeyId = /Credential=([^/,\s]+)\//.exec(headers['authorization'] ?? headers['Authorization'] ?? '')?.[1];
          const fn = this.caller.getStore();
          let output: Record<string, unknown> | undefined;
          let failure: { name?: string; message?: string; $metadata?: { requestId?: string } } | undefined;
          try {
            const result = await next(args);
            output = result.output as unknown as Record<string, unknown>;
            return result;
          } catch (error) {
            failure = error as typeof failure;
            throw error;
          } finally {
            const started = performance.now();
            try {
              this.recordCall(service, operation, args.input as Record<string, unknown>, output, failure, fn, accessKeyId, started);
            } catch (error) {
              this.options.log?.(`local trail: ${service} ${operation} not recorded: ${String(error)}`);
            }
          }
        },
        { step: 'finalizeRequest', priority: 'low', name: 'switchboardLocalTrail', override: true },
      );
    },
  };

  private recordCall(
    service: string,
    operation: string,
    input: Record<string, unknown>,
    output: Record<string, unknown> | undefined,
    failure: { name?: string; message?: string; $metadata?: { requestId?: string } } | undefined,
    fn: string | undefined,
    accessKeyId: string | undefined,
    started: number,
  ): void {
    // An idle poller's empty long poll is no event worth keeping (see the class comment).
    if (operation === 'ReceiveMessage' && !failure && ((output?.['Messages'] as unknown[] | undefined)?.length ?? 0) === 0) return;
    const eventSource = SERVICES[service] ?? `${service.toLowerCase()}.amazonaws.com`;
    if (operation === 'AssumeRole' && output) this.rememberSession(output);
    const described = this.describe(eventSource, operation, input);
    const identity = this.identityOf(fn, accessKeyId);
    this.record(
      {
        userIdentity: identity,
        sourceIPAddress: identity.type === 'AWSService' ? identity.invokedBy! : '127.0.0.1',
        userAgent: fn ? `aws-sdk-js/3 exec-env/AWS_Lambda_nodejs24.x (local: ${fn})` : 'aws-sdk-js/3 (local event source mapping)',
        eventSource,
        eventName: operation,
        requestParameters: described.requestParameters,
        resources: described.resources,
        requestID: ((output?.['$metadata'] as { requestId?: string } | undefined)?.requestId ?? failure?.$metadata?.requestId) || randomUUID(),
        ...(failure ? { errorCode: failure.name ?? 'Error', errorMessage: String(failure.message ?? '').slice(0, 256) } : {}),
      },
      started,
    );
  }

  /** The session an AssumeRole answered, by its access key id (never its secret). */
  private rememberSession(output: Record<string, unknown>) {
    const credentials = output['Credentials'] as { AccessKeyId?: string } | undefined;
    const user = output['AssumedRoleUser'] as { Arn?: string; AssumedRoleId?: string } | undefined;
    if (!credentials?.AccessKeyId || !user?.Arn) return;
    const roleName = /assumed-role\/([^/]+)\//.exec(user.Arn)?.[1];
    const role = [...(this.options.identities?.roles.values() ?? [])].find((r) => r.name === roleName);
    if (this.sessions.size >= 1_000) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(credentials.AccessKeyId, { arn: user.Arn, principalId: user.AssumedRoleId ?? user.Arn, role });
    this.identities.clear(); // an identity built before this session was known is built again
  }

  /** A caller's identity, built once per function and access key (records share it: it is never mutated). */
  private identityOf(fn: string | undefined, accessKeyId: string | undefined): TrailUserIdentity {
    const cacheKey = `${fn ?? ''}\u0000${accessKeyId ?? ''}`;
    let identity = this.identities.get(cacheKey);
    if (!identity) {
      if (this.identities.size >= 2_000) this.identities.clear();
      identity = this.buildIdentity(fn, accessKeyId);
      this.identities.set(cacheKey, identity);
    }
    return identity;
  }

  private buildIdentity(fn: string | undefined, accessKeyId: string | undefined): TrailUserIdentity {
    const { accountId } = this.options;
    // When the session's credentials were made: for a function's role, when this trail (the container) first saw it.
    const creationDate = eventTime(this.now());
    const session = accessKeyId ? this.sessions.get(accessKeyId) : undefined;
    if (session)
      return {
        type: 'AssumedRole',
        principalId: session.principalId,
        arn: session.arn,
        accountId,
        accessKeyId,
        sessionContext: {
          ...(session.role ? { sessionIssuer: { type: 'Role', principalId: session.role.id, arn: session.role.arn, accountId, userName: session.role.name } } : {}),
          attributes: { creationDate, mfaAuthenticated: 'false' },
        },
      };
    if (!fn) return serviceIdentity('lambda.amazonaws.com');
    const role = this.options.identities?.functionRoles.get(fn) ?? { name: fn, arn: `arn:aws:iam::${accountId}:role/${fn}`, id: 'AROALOCAL' };
    return {
      type: 'AssumedRole',
      principalId: `${role.id}:${fn}`,
      arn: `arn:aws:sts::${accountId}:assumed-role/${role.name}/${fn}`,
      accountId,
      ...(accessKeyId ? { accessKeyId } : {}),
      sessionContext: {
        sessionIssuer: { type: 'Role', principalId: role.id, arn: role.arn, accountId, userName: role.name },
        attributes: { creationDate, mfaAuthenticated: 'false' },
      },
    };
  }

  /** Identifiers only: what a request names, never what it carries. */
  private describe(eventSource: string, operation: string, input: Record<string, unknown>): Described {
    const { region, accountId } = this.options;
    const resource = (type: string, ARN: string) => resourceOf(accountId, type, ARN);
    const table = (name: string) => resourceOf(accountId, 'AWS::DynamoDB::Table', `arn:aws:dynamodb:${region}:${accountId}:table/${name}`);
    switch (eventSource) {
      case 'dynamodb.amazonaws.com': {
        const tableName = str(input['TableName']);
        if (tableName) {
          const names = this.options.tableKeys?.get(tableName);
          const key = keyOf(input['Key'], undefined) ?? (names ? keyOf(input['Item'], names) : undefined);
          const indexName = str(input['IndexName']);
          return { requestParameters: { tableName, ...(indexName ? { indexName } : {}), ...(key ? { key } : {}) }, resources: [table(tableName)] };
        }
        const batch = (input['RequestItems'] ?? {}) as Record<string, unknown>;
        const transact = ((input['TransactItems'] ?? []) as Record<string, { TableName?: unknown }>[]).flatMap((item) =>
          Object.values(item).map((part) => str(part?.TableName)).filter((name): name is string => Boolean(name)),
        );
        const tables = [...new Set([...Object.keys(batch), ...transact])];
        return { requestParameters: tables.length ? { tableNames: tables } : null, resources: tables.map(table) };
      }
      case 'sqs.amazonaws.com': {
        const queueUrl = str(input['QueueUrl']);
        const name = queueUrl?.split('/').pop();
        return {
          requestParameters: queueUrl ? { queueUrl } : str(input['QueueName']) ? { queueName: input['QueueName'] } : null,
          resources: name ? [resource('AWS::SQS::Queue', `arn:aws:sqs:${region}:${accountId}:${name}`)] : [],
        };
      }
      case 'states.amazonaws.com': {
        const stateMachineArn = str(input['stateMachineArn']);
        const executionArn = str(input['executionArn']);
        const name = str(input['name']);
        return {
          requestParameters: stateMachineArn
            ? { stateMachineArn, ...(name ? { name } : {}) }
            : executionArn
              ? { executionArn }
              : input['taskToken'] !== undefined
                ? { taskToken: 'HIDDEN_DUE_TO_SECURITY_REASONS' }
                : null,
          resources: stateMachineArn
            ? [resource('AWS::StepFunctions::StateMachine', stateMachineArn)]
            : executionArn
              ? [resource('AWS::StepFunctions::Execution', executionArn)]
              : [],
        };
      }
      case 'sts.amazonaws.com': {
        const roleArn = str(input['RoleArn']);
        return {
          requestParameters: roleArn ? { roleArn, roleSessionName: input['RoleSessionName'], durationSeconds: input['DurationSeconds'] } : null,
          resources: roleArn ? [resource('AWS::IAM::Role', roleArn)] : [],
        };
      }
      case 'kms.amazonaws.com': {
        const keyId = str(input['KeyId']);
        const algorithm = str(input['SigningAlgorithm']) ?? str(input['EncryptionAlgorithm']);
        return { requestParameters: keyId ? { keyId, ...(algorithm ? { algorithm } : {}) } : null, resources: keyId?.startsWith('arn:') ? [resource('AWS::KMS::Key', keyId)] : [] };
      }
      case 'secretsmanager.amazonaws.com':
        return { requestParameters: str(input['SecretId']) ? { secretId: input['SecretId'] } : null, resources: [] };
      case 'bedrock.amazonaws.com':
        return { requestParameters: str(input['modelId']) ? { modelId: input['modelId'] } : null, resources: [] };
      default:
        // A service this trail does not know: record the call, none of its parameters.
        return { requestParameters: null, resources: [] };
    }
  }

  private record(
    fields: Pick<TrailRecord, 'userIdentity' | 'sourceIPAddress' | 'userAgent' | 'eventSource' | 'eventName' | 'requestParameters' | 'requestID' | 'resources'> &
      Partial<Pick<TrailRecord, 'errorCode' | 'errorMessage'>>,
    started: number,
  ): void {
    const { region, accountId } = this.options;
    const data = DATA_EVENTS[fields.eventSource]?.has(fields.eventName) ?? false;
    const now = this.now();
    const record: TrailRecord = {
      eventVersion: '1.09',
      userIdentity: fields.userIdentity,
      eventTime: eventTime(now),
      eventSource: fields.eventSource,
      eventName: fields.eventName,
      awsRegion: region,
      sourceIPAddress: fields.sourceIPAddress,
      userAgent: fields.userAgent,
      requestParameters: fields.requestParameters,
      responseElements: null,
      ...(fields.errorCode ? { errorCode: fields.errorCode, errorMessage: fields.errorMessage ?? '' } : {}),
      requestID: fields.requestID,
      eventID: randomUUID(),
      readOnly: READ_ONLY.test(fields.eventName),
      ...(fields.resources?.length ? { resources: fields.resources } : {}),
      eventType: 'AwsApiCall',
      managementEvent: !data,
      recipientAccountId: accountId,
      eventCategory: data ? 'Data' : 'Management',
    };
    this.recent.push(record);
    if (this.recent.length >= 2 * this.keep) this.recent.splice(0, this.recent.length - this.keep); // amortized: one splice per `keep` records
    if (this.options.dir) {
      this.pending.push(`${JSON.stringify(record)}\n`);
      this.pendingDays.push(record.eventTime.slice(0, 10).replaceAll('-', ''));
      if (this.pending.length > this.maxPending) {
        const over = this.pending.length - this.maxPending;
        this.pending.splice(0, over);
        this.pendingDays.splice(0, over);
        this.stats_.dropped += over;
        if (!this.warnedDrop) this.options.log?.(`local trail: the disk is behind; ${over} record(s) dropped`);
        this.warnedDrop = true;
      }
      this.flushTimer ??= setTimeout(() => void this.flush(), this.options.flushMs ?? 100).unref();
    }
    this.stats_.recorded += 1;
    this.stats_.recordMicros += (performance.now() - started) * 1000;
  }

  /** Appends what is waiting to the daily files (one append per day touched); resolves when written. */
  flush(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const dir = this.options.dir;
    if (!dir || this.pending.length === 0) return this.writing;
    const [lines, days] = [this.pending, this.pendingDays];
    this.pending = [];
    this.pendingDays = [];
    this.writing = this.writing.then(async () => {
      try {
        if (!this.createdDir) await mkdir(dir, { recursive: true, mode: 0o700 });
        this.createdDir = true;
        const byDay = new Map<string, string[]>();
        lines.forEach((line, i) => byDay.set(days[i]!, [...(byDay.get(days[i]!) ?? []), line]));
        for (const [day, dayLines] of byDay) await appendFile(join(dir, trailFileName(this.options.accountId, this.options.region, day)), dayLines.join(''), { mode: 0o600 });
        this.stats_.written += lines.length;
      } catch (error) {
        this.stats_.dropped += lines.length;
        this.options.log?.(`local trail: ${lines.length} record(s) not written to ${dir}: ${(error as Error).message}`);
      }
    });
    return this.writing;
  }

  /** The records kept in memory matching `filter`, newest first. */
  lookup(filter: TrailFilter): TrailEvent[] {
    const events: TrailEvent[] = [];
    for (let i = this.recent.length - 1; i >= Math.max(0, this.recent.length - this.keep) && events.length < filter.limit; i--) {
      const event = normalizeTrailRecord(this.recent[i]!);
      if (matchesTrailFilter(event, filter)) events.push(event);
    }
    return events;
  }

  /** The records kept in memory, oldest first (tests read the full records). */
  records(): readonly TrailRecord[] {
    return this.recent.slice(-this.keep);
  }

  stats(): TrailStats {
    return { ...this.stats_ };
  }

  async stop(): Promise<void> {
    await this.flush();
  }
}

/**
 * The local trail's records in `dir` matching `filter`, newest first: the daily files from the newest
 * day the window allows, each read backwards, until `limit` match.
 */
export const readTrailDir = async (dir: string, filter: TrailFilter): Promise<TrailEvent[]> => {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const day = (date: Date | undefined) => date?.toISOString().slice(0, 10).replaceAll('-', '');
  const [first, last] = [day(filter.since), day(filter.until)];
  const files = names
    .map((name) => ({ name, match: TRAIL_FILE.exec(name) }))
    .filter(({ match }) => match && (!first || match[3]! >= first) && (!last || match[3]! <= last))
    .sort((a, b) => (a.match![3]! < b.match![3]! ? 1 : a.match![3]! > b.match![3]! ? -1 : a.name < b.name ? 1 : -1));
  const events: TrailEvent[] = [];
  for (const { name } of files) {
    const lines = (await readFile(join(dir, name), 'utf8')).split('\n');
    for (let i = lines.length - 1; i >= 0 && events.length < filter.limit; i--) {
      if (!lines[i]) continue;
      let record: TrailRecord;
      try {
        record = JSON.parse(lines[i]!) as TrailRecord;
      } catch {
        continue; // a line cut short by a crash mid-append
      }
      const event = normalizeTrailRecord(record);
      if (matchesTrailFilter(event, filter)) events.push(event);
    }
    if (events.length >= filter.limit) break;
  }
  return events;
};
