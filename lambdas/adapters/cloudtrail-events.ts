import { GetQueryResultsCommand, LookupEventsCommand, StartQueryCommand, type CloudTrailClient, type LookupAttribute } from '@aws-sdk/client-cloudtrail';

/**
 * CloudTrail events for the auditor's CLI (`npm run -s audit -- trail`, docs/audit.md): the record
 * format CloudTrail delivers (and the local trail writes, bin/local-cloud/trail.ts), the one
 * normalized shape the CLI prints whatever the source, and the two ways to read them on AWS:
 * LookupEvents (management events of the last 90 days) and a CloudTrail Lake SQL query (every event
 * the event data store keeps, data events included).
 */

/** Who made a call, as CloudTrail records it (the fields the platform's callers produce). */
export interface TrailUserIdentity {
  type: 'AssumedRole' | 'AWSService' | 'IAMUser' | 'Root' | string;
  principalId?: string;
  arn?: string;
  accountId?: string;
  accessKeyId?: string;
  /** For `AWSService`: the service that called (`apigateway.amazonaws.com`, …). */
  invokedBy?: string;
  sessionContext?: {
    sessionIssuer?: { type: string; principalId: string; arn: string; accountId: string; userName: string };
    attributes?: { creationDate: string; mfaAuthenticated: string };
  };
}

/** One CloudTrail record (eventVersion 1.09), as delivered in a log file's `Records` or a Lake row. */
export interface TrailRecord {
  eventVersion: string;
  userIdentity: TrailUserIdentity;
  eventTime: string;
  eventSource: string;
  eventName: string;
  awsRegion: string;
  sourceIPAddress: string;
  userAgent: string;
  /** Identifiers only (table, key, queue URL, state machine): never item contents or message bodies. */
  requestParameters: Record<string, unknown> | null;
  responseElements: Record<string, unknown> | null;
  errorCode?: string;
  errorMessage?: string;
  requestID: string;
  eventID: string;
  readOnly: boolean;
  resources?: { accountId?: string; type: string; ARN: string }[];
  eventType: 'AwsApiCall';
  managementEvent: boolean;
  recipientAccountId: string;
  eventCategory: 'Management' | 'Data';
}

/** What the CLI prints for one event, from any source (the local trail, LookupEvents, Lake). */
export interface TrailEvent {
  time: string;
  eventName: string;
  eventSource: string;
  category: string;
  readOnly: boolean;
  /** The caller: an assumed role's session ARN, or the service that invoked (`apigateway.amazonaws.com`). */
  principal: string;
  principalType: string;
  region: string;
  resources: { type: string; arn: string }[];
  errorCode?: string;
  eventId: string;
  requestId: string;
}

/** A time as CloudTrail's `eventTime` has it: UTC, whole seconds, `Z` (`2026-11-26T13:34:00Z`). */
export const trailTime = (date: Date): string => `${date.toISOString().slice(0, 19)}Z`;

/** A full record → the normalized shape. */
export const normalizeTrailRecord = (record: Partial<TrailRecord>): TrailEvent => ({
  time: record.eventTime ?? '',
  eventName: record.eventName ?? '',
  eventSource: record.eventSource ?? '',
  category: record.eventCategory ?? (record.managementEvent === false ? 'Data' : 'Management'),
  readOnly: record.readOnly === true || String(record.readOnly) === 'true',
  principal: record.userIdentity?.arn ?? record.userIdentity?.invokedBy ?? record.userIdentity?.principalId ?? '',
  principalType: record.userIdentity?.type ?? '',
  region: record.awsRegion ?? '',
  resources: (record.resources ?? []).map((resource) => ({ type: resource.type, arn: resource.ARN })),
  ...(record.errorCode ? { errorCode: record.errorCode } : {}),
  eventId: record.eventID ?? '',
  requestId: record.requestID ?? '',
});

/** What to look for: a time window, an event name, a resource (ARN or name), newest first, at most `limit`. */
export interface TrailFilter {
  since?: Date;
  until?: Date;
  eventName?: string;
  resource?: string;
  limit: number;
}

/** Whether a normalized event matches the filter (the local trail's filter, and the client-side half of LookupEvents'). */
export const matchesTrailFilter = (event: TrailEvent, filter: Omit<TrailFilter, 'limit'>): boolean => {
  const time = Date.parse(event.time);
  return (
    (filter.since === undefined || time >= filter.since.getTime()) &&
    (filter.until === undefined || time <= filter.until.getTime()) &&
    (filter.eventName === undefined || event.eventName === filter.eventName) &&
    (filter.resource === undefined || event.resources.some((r) => r.arn === filter.resource || r.arn.endsWith(`/${filter.resource}`) || r.arn.endsWith(`:${filter.resource}`)))
  );
};

/**
 * LookupEvents, page by page until `limit` events match. One lookup attribute per call is all the API
 * takes: the event name when given (else the resource name), the other filter applied here.
 * LookupEvents returns management events only (data events: a Lake query).
 */
export const lookupTrailEvents = async (client: CloudTrailClient, filter: TrailFilter): Promise<TrailEvent[]> => {
  const attribute: LookupAttribute | undefined =
    filter.eventName !== undefined
      ? { AttributeKey: 'EventName', AttributeValue: filter.eventName }
      : filter.resource !== undefined
        ? { AttributeKey: 'ResourceName', AttributeValue: filter.resource }
        : undefined;
  const events: TrailEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new LookupEventsCommand({
        ...(attribute ? { LookupAttributes: [attribute] } : {}),
        ...(filter.since ? { StartTime: filter.since } : {}),
        ...(filter.until ? { EndTime: filter.until } : {}),
        MaxResults: 50,
        ...(nextToken ? { NextToken: nextToken } : {}),
      }),
    );
    for (const raw of page.Events ?? []) {
      let record: Partial<TrailRecord>;
      try {
        record = JSON.parse(raw.CloudTrailEvent ?? '{}') as Partial<TrailRecord>;
      } catch {
        record = {};
      }
      const event = normalizeTrailRecord({
        ...record,
        eventID: record.eventID ?? raw.EventId ?? '',
        eventName: record.eventName ?? raw.EventName ?? '',
        eventSource: record.eventSource ?? raw.EventSource ?? '',
        eventTime: record.eventTime ?? (raw.EventTime ? trailTime(raw.EventTime) : ''),
        ...(record.resources ? {} : { resources: (raw.Resources ?? []).map((r) => ({ type: r.ResourceType ?? '', ARN: r.ResourceName ?? '' })) }),
      });
      // The server matched the one attribute (and the times); a resource beside an event name is checked here.
      if (attribute?.AttributeKey !== 'EventName' || filter.resource === undefined || matchesTrailFilter(event, { resource: filter.resource })) events.push(event);
      if (events.length === filter.limit) return events;
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return events;
};

/** An SQL string literal (quotes doubled). */
const sqlString = (value: string) => `'${value.replaceAll("'", "''")}'`;
/** A Lake timestamp literal (`YYYY-MM-DD HH:MM:SS`, UTC). */
const sqlTime = (date: Date) => sqlString(date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ''));

/** The event data store's id: the id itself, or the last part of its ARN. */
export const eventDataStoreId = (idOrArn: string): string => {
  const id = idOrArn.includes('/') ? idOrArn.slice(idOrArn.lastIndexOf('/') + 1) : idOrArn;
  if (!/^[A-Za-z0-9-]{1,128}$/.test(id)) throw new Error(`--lake: not an event data store id or ARN: ${idOrArn}`);
  return id;
};

/** The Lake SQL for a filter: the normalized shape's columns, newest first. */
export const lakeQueryFor = (storeId: string, filter: TrailFilter): string => {
  const where = [
    filter.since ? `eventTime >= ${sqlTime(filter.since)}` : undefined,
    filter.until ? `eventTime <= ${sqlTime(filter.until)}` : undefined,
    filter.eventName !== undefined ? `eventName = ${sqlString(filter.eventName)}` : undefined,
    filter.resource !== undefined
      ? `any_match(resources, r -> r.arn = ${sqlString(filter.resource)} OR r.arn LIKE ${sqlString(`%/${filter.resource.replace(/[%_\\]/g, (c) => `\\${c}`)}`)} ESCAPE '\\')`
      : undefined,
  ].filter(Boolean);
  return [
    'SELECT eventID, eventTime, eventSource, eventName, awsRegion, readOnly, eventCategory, requestID, errorCode,',
    "userIdentity.type AS principalType, coalesce(userIdentity.arn, userIdentity.invokedBy, userIdentity.principalId) AS principal,",
    "array_join(transform(resources, r -> r.type || ' ' || r.arn), ',') AS resourceList",
    `FROM ${eventDataStoreId(storeId)}`,
    where.length ? `WHERE ${where.join(' AND ')}` : '',
    `ORDER BY eventTime DESC LIMIT ${filter.limit}`,
  ]
    .filter(Boolean)
    .join(' ');
};

const FINISHED = 'FINISHED';
const FAILED = new Set(['FAILED', 'CANCELLED', 'TIMED_OUT']);

/**
 * A CloudTrail Lake query (StartQuery, then GetQueryResults polled every `pollMs` until it finishes,
 * then paged): each row → the normalized shape.
 */
export const queryTrailLake = async (
  client: CloudTrailClient,
  storeId: string,
  filter: TrailFilter,
  options: { pollMs?: number; timeoutMs?: number } = {},
): Promise<TrailEvent[]> => {
  const { QueryId } = await client.send(new StartQueryCommand({ QueryStatement: lakeQueryFor(storeId, filter) }));
  if (!QueryId) throw new Error('CloudTrail Lake StartQuery returned no query id');
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  const events: TrailEvent[] = [];
  let nextToken: string | undefined;
  for (;;) {
    const page = await client.send(new GetQueryResultsCommand({ QueryId, ...(nextToken ? { NextToken: nextToken } : {}) }));
    const status = page.QueryStatus ?? '';
    if (FAILED.has(status)) throw new Error(`CloudTrail Lake query ${QueryId} ${status.toLowerCase()}${page.ErrorMessage ? `: ${page.ErrorMessage}` : ''}`);
    if (status !== FINISHED) {
      if (Date.now() > deadline) throw new Error(`CloudTrail Lake query ${QueryId} did not finish in ${(options.timeoutMs ?? 120_000) / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 1_000));
      continue;
    }
    for (const row of page.QueryResultRows ?? []) {
      const column = Object.assign({}, ...row) as Record<string, string | undefined>;
      events.push({
        time: lakeTime(column['eventTime'] ?? ''),
        eventName: column['eventName'] ?? '',
        eventSource: column['eventSource'] ?? '',
        category: column['eventCategory'] ?? '',
        readOnly: column['readOnly'] === 'true',
        principal: column['principal'] ?? '',
        principalType: column['principalType'] ?? '',
        region: column['awsRegion'] ?? '',
        resources: (column['resourceList'] ?? '')
          .split(',')
          .filter(Boolean)
          .map((pair) => ({ type: pair.slice(0, pair.indexOf(' ')), arn: pair.slice(pair.indexOf(' ') + 1) })),
        ...(column['errorCode'] ? { errorCode: column['errorCode'] } : {}),
        eventId: column['eventID'] ?? '',
        requestId: column['requestID'] ?? '',
      });
    }
    nextToken = page.NextToken;
    if (!nextToken || events.length >= filter.limit) return events.slice(0, filter.limit);
  }
};

/** Lake's `2026-11-26 13:45:01.000` (UTC) → CloudTrail's eventTime form. */
const lakeTime = (value: string) => {
  const iso = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.test(value) ? `${value.replace(' ', 'T')}${value.endsWith('Z') ? '' : 'Z'}` : value;
  return Number.isNaN(Date.parse(iso)) ? value : trailTime(new Date(iso));
};
