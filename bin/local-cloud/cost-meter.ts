import { AsyncLocalStorage } from 'node:async_hooks';
import { DynamoDBClient, GetItemCommand, type AttributeValue, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type { SdkPlugin } from '../../lambdas/adapters/runtime';
import { physicalName } from './resources/resource-handler';
import type { SynthesizedStack } from './synth';

/** Who made a request: a function (by name) or the local cloud itself (the event source pollers). */
export const PLATFORM_CALLER = 'event source';

/** What the meter has seen, by kind; counts only grow (subtract two snapshots for a stretch of time). */
export interface MeterReading {
  /** `caller service Operation` → requests, e.g. `worker DynamoDB UpdateItem`. */
  requests: Record<string, number>;
  /** `caller DynamoDB Operation` → capacity units the emulator reported (read units for reads, write units for writes). */
  capacity: Record<string, number>;
  /**
   * `caller DynamoDB Operation` → write units DynamoDB bills on the table's global secondary
   * indexes for those writes, which the emulator does not report: computed by the meter from the
   * item before and after each write and the template's index definitions (`indexWriteUnits`).
   */
  indexCapacity: Record<string, number>;
  /** The same units by index: `caller DynamoDB Operation → indexName` (see `indexKind`). */
  indexCapacityByIndex: Record<string, number>;
  /** Function name → invocations and their summed wall-clock milliseconds. */
  invocations: Record<string, { count: number; ms: number; memoryMb: number }>;
  /** Requests the API Gateway stand-in routed to a function. */
  apiRequests: number;
}

const emptyReading = (): MeterReading => ({ requests: {}, capacity: {}, indexCapacity: {}, indexCapacityByIndex: {}, invocations: {}, apiRequests: 0 });

const INDEX_SEPARATOR = ' → ';
/** The key of `indexCapacityByIndex`: a kind and an index name. */
export const indexKind = (kind: string, indexName: string) => `${kind}${INDEX_SEPARATOR}${indexName}`;
/** `indexKind` read back. */
export const parseIndexKind = (key: string): { kind: string; indexName: string } => {
  const at = key.lastIndexOf(INDEX_SEPARATOR);
  return { kind: key.slice(0, at), indexName: key.slice(at + INDEX_SEPARATOR.length) };
};

/** `later − earlier`, kind by kind. */
export const difference = (later: MeterReading, earlier: MeterReading): MeterReading => {
  const minus = (a: Record<string, number>, b: Record<string, number>) =>
    Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (b[k] ?? 0)]).filter(([, v]) => v !== 0));
  return {
    requests: minus(later.requests, earlier.requests),
    capacity: minus(later.capacity, earlier.capacity),
    indexCapacity: minus(later.indexCapacity, earlier.indexCapacity),
    indexCapacityByIndex: minus(later.indexCapacityByIndex, earlier.indexCapacityByIndex),
    invocations: Object.fromEntries(
      Object.entries(later.invocations)
        .map(([k, v]) => {
          const before = earlier.invocations[k];
          return [k, { count: v.count - (before?.count ?? 0), ms: v.ms - (before?.ms ?? 0), memoryMb: v.memoryMb }] as const;
        })
        .filter(([, v]) => v.count !== 0),
    ),
    apiRequests: later.apiRequests - earlier.apiRequests,
  };
};

interface ConsumedCapacity {
  CapacityUnits?: number;
}
const unitsOf = (consumed: ConsumedCapacity | ConsumedCapacity[] | undefined) =>
  ([] as ConsumedCapacity[]).concat(consumed ?? []).reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);

/** A global secondary index as the template defines it. */
export interface IndexSchema {
  name: string;
  /** Its key attributes (partition key, then sort key if any). */
  keys: string[];
  projection: 'ALL' | 'KEYS_ONLY' | 'INCLUDE';
  /** The attributes an INCLUDE projection adds to the keys. */
  nonKeyAttributes: string[];
}
/** What the meter needs to know of a table: its key attributes and its global secondary indexes. */
export interface TableSchema {
  keys: string[];
  indexes: IndexSchema[];
}

type Item = Record<string, AttributeValue>;

/**
 * The `AWS::DynamoDB::Table` resources of the synthesized templates, by the physical name the
 * local cloud gives them (bin/local-cloud/resources/dynamodb-table.ts): key schema and global
 * secondary indexes, as literal in the template (an intrinsic there is an error, not a guess).
 */
export const tableSchemasOf = (stacks: readonly SynthesizedStack[]): Map<string, TableSchema> => {
  const tables = new Map<string, TableSchema>();
  const names = (where: string, keySchema: unknown): string[] => {
    const keys = (Array.isArray(keySchema) ? keySchema : []) as { AttributeName?: unknown; KeyType?: unknown }[];
    const hash = keys.filter((k) => k.KeyType === 'HASH');
    const range = keys.filter((k) => k.KeyType === 'RANGE');
    const ordered = [...hash, ...range].map((k) => k.AttributeName);
    if (ordered.length === 0 || ordered.some((name) => typeof name !== 'string')) throw new Error(`${where}: KeySchema is not a literal list of attribute names`);
    return ordered as string[];
  };
  for (const { stackName, template } of stacks) {
    for (const [id, resource] of Object.entries(template.Resources)) {
      if (resource.Type !== 'AWS::DynamoDB::Table') continue;
      const p = (resource.Properties ?? {}) as Record<string, unknown>;
      const where = `${stackName}/${id}`;
      const indexes = ((p['GlobalSecondaryIndexes'] ?? []) as Record<string, unknown>[]).map((index): IndexSchema => {
        const projection = (index['Projection'] ?? {}) as { ProjectionType?: unknown; NonKeyAttributes?: unknown };
        const type = projection.ProjectionType ?? 'KEYS_ONLY'; // CloudFormation's default
        if (typeof index['IndexName'] !== 'string' || (type !== 'ALL' && type !== 'KEYS_ONLY' && type !== 'INCLUDE')) {
          throw new Error(`${where}: a global secondary index without a literal IndexName and ProjectionType`);
        }
        const nonKey = (projection.NonKeyAttributes ?? []) as unknown[];
        if (nonKey.some((name) => typeof name !== 'string')) throw new Error(`${where}/${index['IndexName']}: NonKeyAttributes is not a literal list`);
        return {
          name: index['IndexName'],
          keys: names(`${where}/${index['IndexName']}`, index['KeySchema']),
          projection: type,
          nonKeyAttributes: type === 'INCLUDE' ? (nonKey as string[]) : [],
        };
      });
      tables.set(physicalName(stackName, id), { keys: names(where, p['KeySchema']), indexes });
    }
  }
  return tables;
};

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');
/** A number's size: 1 byte per two significant digits (leading and trailing zeros trimmed), plus 1. */
const numberSize = (n: string) => {
  const digits = n.replace(/^[+-]/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
};
const binarySize = (b: Uint8Array | string) => (typeof b === 'string' ? Buffer.from(b, 'base64').length : b.length);

/**
 * An attribute value's size by DynamoDB's item size rules: strings and binaries by their bytes,
 * numbers as above, booleans and null 1 byte, sets the sum of their elements, lists and maps
 * 3 bytes plus 1 byte per element plus the elements (and, in a map, the element names).
 */
export const attributeValueSize = (value: AttributeValue): number => {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return binarySize(value.B);
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + utf8(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, b) => sum + binarySize(b), 0);
  if (value.L !== undefined) return 3 + value.L.reduce((sum, v) => sum + 1 + attributeValueSize(v), 0);
  if (value.M !== undefined) return 3 + Object.entries(value.M).reduce((sum, [k, v]) => sum + 1 + utf8(k) + attributeValueSize(v), 0);
  return 0;
};
/** An item's size: each attribute's name (UTF-8 bytes) plus its value. */
export const itemSize = (item: Item) => Object.entries(item).reduce((sum, [name, value]) => sum + utf8(name) + attributeValueSize(value), 0);
const unitsFor = (item: Item) => Math.max(1, Math.ceil(itemSize(item) / 1024));

/** A value in a canonical form for comparison (map entries and set elements sorted). */
const canonical = (value: unknown): unknown => {
  if (value instanceof Uint8Array) return { $b: Buffer.from(value).toString('base64') };
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, ['SS', 'NS', 'BS'].includes(k) && Array.isArray(v) ? v.map(canonical).map((e) => JSON.stringify(e)).sort() : canonical(v)]),
    );
  }
  return value;
};
const same = (a: unknown, b: unknown) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

/** The index's entry for `item`: undefined when the item lacks one of the index's key attributes. */
const projectedItem = (item: Item | undefined, tableKeys: readonly string[], index: IndexSchema): Item | undefined => {
  if (!item || index.keys.some((name) => item[name] === undefined)) return undefined;
  if (index.projection === 'ALL') return item;
  const names = new Set([...tableKeys, ...index.keys, ...index.nonKeyAttributes]);
  return Object.fromEntries(Object.entries(item).filter(([name]) => names.has(name)));
};

/**
 * Write units one table write costs on each global secondary index of the table, as DynamoDB
 * bills them, from the item before and after the write (undefined: no item): an item that enters
 * the index is 1 put, one that leaves it 1 delete, one whose index key changes a delete and a put,
 * one that stays with a changed projected entry 1 update, and one whose entry is unchanged
 * nothing. Each write is ceil(entry size / 1 KB) units, the entry being the table's keys, the
 * index's keys and the projected attributes (a delete: the old entry). Index name → units, 0s kept.
 */
export const indexWriteUnits = (before: Item | undefined, after: Item | undefined, table: TableSchema): Record<string, number> =>
  Object.fromEntries(
    table.indexes.map((index) => {
      const old = projectedItem(before, table.keys, index);
      const now = projectedItem(after, table.keys, index);
      let units = 0;
      if (!old && now) units = unitsFor(now);
      else if (old && !now) units = unitsFor(old);
      else if (old && now) {
        const keyChanged = index.keys.some((name) => !same(old[name], now[name]));
        if (keyChanged) units = unitsFor(old) + unitsFor(now);
        else if (!same(old, now)) units = unitsFor(now);
      }
      return [index.name, units];
    }),
  );

/** An attribute value as the wire carries it (binaries in base64) → as the SDK takes it. */
const fromWire = (value: AttributeValue | Record<string, unknown>): AttributeValue => {
  const v = value as Record<string, unknown>;
  if (typeof v['B'] === 'string') return { B: Buffer.from(v['B'], 'base64') };
  return value as AttributeValue;
};

/** One item a write request touches: its table and its key (wire format). */
interface WriteTarget {
  table: string;
  key: Item;
}
/** The items a DynamoDB write request (as sent: JSON) touches, for the tables the meter knows. */
const writeTargets = (operation: string, body: Record<string, unknown>, tables: ReadonlyMap<string, TableSchema>): WriteTarget[] => {
  const targets: WriteTarget[] = [];
  const add = (table: unknown, key: unknown, item: unknown) => {
    const schema = typeof table === 'string' ? tables.get(table) : undefined;
    if (!schema || schema.indexes.length === 0) return;
    const source = (key ?? item) as Record<string, AttributeValue> | undefined;
    if (!source || schema.keys.some((name) => source[name] === undefined)) return;
    targets.push({ table: table as string, key: Object.fromEntries(schema.keys.map((name) => [name, fromWire(source[name]!)])) });
  };
  if (operation === 'PutItem') add(body['TableName'], undefined, body['Item']);
  if (operation === 'UpdateItem' || operation === 'DeleteItem') add(body['TableName'], body['Key'], undefined);
  if (operation === 'BatchWriteItem') {
    for (const [table, requests] of Object.entries((body['RequestItems'] ?? {}) as Record<string, Record<string, { Item?: unknown; Key?: unknown }>[]>)) {
      for (const request of requests) add(table, request['DeleteRequest']?.Key, request['PutRequest']?.Item);
    }
  }
  if (operation === 'TransactWriteItems') {
    for (const entry of (body['TransactItems'] ?? []) as Record<string, { TableName?: unknown; Key?: unknown; Item?: unknown }>[]) {
      if (entry['Put']) add(entry['Put'].TableName, undefined, entry['Put'].Item);
      if (entry['Update']) add(entry['Update'].TableName, entry['Update'].Key, undefined);
      if (entry['Delete']) add(entry['Delete'].TableName, entry['Delete'].Key, undefined);
    }
  }
  return targets;
};
const targetId = (target: WriteTarget) => JSON.stringify([target.table, canonical(target.key)]);

/** The service and operation of an SDK middleware call, e.g. `{ service: 'DynamoDB', operation: 'PutItem' }`. */
export const sdkOperationOf = (context: { clientName?: unknown; commandName?: unknown }): { service: string; operation: string } => ({
  service: String(context.clientName ?? 'unknown').replace(/Client$/, ''),
  operation: String(context.commandName ?? 'unknown').replace(/Command$/, ''),
});

/**
 * Counts what the local cloud asks of AWS, for `npm run bench -- --cost`: SDK requests by caller,
 * service and operation (an SDK plugin the client factories add through `AwsClientConfig.plugins`,
 * so the handlers are counted unchanged), DynamoDB capacity units as the emulator computes them
 * (it is asked for them: `ReturnConsumedCapacity: TOTAL` is added to requests that do not set it),
 * function invocations with their durations, and API Gateway requests. A request made inside an
 * invocation belongs to that function; any other to the local cloud's own pollers.
 * An SQS ReceiveMessage that returned nothing is counted as `ReceiveMessage (empty)`.
 *
 * Global secondary index write units, which the emulator does not report, are computed
 * (`indexWriteUnits`) for the tables `describeTables` named: around each DynamoDB write the meter
 * reads every item it touches before and after (GetItem, ConsistentRead, on a client of its own
 * that is not counted), holding metered writes to the same item back meanwhile, so the two images
 * are those of this write even when callers write side by side.
 */
export class CostMeter {
  private readonly reading = emptyReading();
  private readonly caller = new AsyncLocalStorage<string>();
  private tables: ReadonlyMap<string, TableSchema> = new Map();
  private images: DynamoDBClient | undefined;
  /** Item → the end of the last metered write queued on it. */
  private readonly itemLocks = new Map<string, Promise<void>>();

  /**
   * The tables whose index writes to meter, by physical name (`tableSchemasOf` the synthesized
   * templates), and the emulator to read item images from.
   */
  describeTables(tables: ReadonlyMap<string, TableSchema>, dynamodb: DynamoDBClientConfig): void {
    this.tables = tables;
    this.images?.destroy();
    this.images = new DynamoDBClient(dynamodb);
  }

  readonly sdkPlugin: SdkPlugin = {
    applyToStack: (stack) => {
      stack.add(
        (next, context) => async (args) => {
          const { service, operation } = sdkOperationOf(context);
          const input = args.input as { ReturnConsumedCapacity?: string };
          if (service === 'DynamoDB' && input.ReturnConsumedCapacity === undefined) input.ReturnConsumedCapacity = 'TOTAL';
          const result = await next(args);
          const output = result.output as { Messages?: unknown[]; ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[] };
          const kind = `${this.caller.getStore() ?? PLATFORM_CALLER} ${service} ${operation}`;
          const empty = operation === 'ReceiveMessage' && (output.Messages?.length ?? 0) === 0;
          this.add(this.reading.requests, empty ? `${kind} (empty)` : kind, 1);
          const units = unitsOf(output.ConsumedCapacity);
          if (units > 0) this.add(this.reading.capacity, kind, units);
          return result;
        },
        { step: 'initialize', name: 'switchboardCostMeter', override: true },
      );
      // After serialization, so the request is read as sent (document clients' input is marshalled by then).
      stack.add(
        (next, context) => async (args) => {
          const { service, operation } = sdkOperationOf(context);
          const sent = (args.request as { body?: unknown } | undefined)?.body; // JSON, as a string or its UTF-8 bytes
          const body = typeof sent === 'string' ? sent : sent instanceof Uint8Array ? Buffer.from(sent.buffer, sent.byteOffset, sent.byteLength).toString('utf8') : undefined;
          if (service !== 'DynamoDB' || !this.images || this.tables.size === 0 || body === undefined) return next(args);
          const targets = writeTargets(operation, JSON.parse(body) as Record<string, unknown>, this.tables);
          if (targets.length === 0) return next(args);
          const kind = `${this.caller.getStore() ?? PLATFORM_CALLER} ${service} ${operation}`;
          return this.holding(targets.map(targetId), async () => {
            const before = await Promise.all(targets.map((target) => this.image(target)));
            const result = await next(args); // a failed write (a condition, a cancelled transaction) changed no index
            const after = await Promise.all(targets.map((target) => this.image(target)));
            targets.forEach((target, i) => {
              for (const [indexName, units] of Object.entries(indexWriteUnits(before[i], after[i], this.tables.get(target.table)!))) {
                if (units === 0) continue;
                this.add(this.reading.indexCapacity, kind, units);
                this.add(this.reading.indexCapacityByIndex, indexKind(kind, indexName), units);
              }
            });
            return result;
          });
        },
        { step: 'build', name: 'switchboardIndexMeter', override: true },
      );
    },
  };

  /** The item as it is now (the meter's own request, not counted). */
  private async image(target: WriteTarget): Promise<Item | undefined> {
    const { Item } = await this.images!.send(new GetItemCommand({ TableName: target.table, Key: target.key, ConsistentRead: true }));
    return Item;
  }

  /** Runs `run` once no other metered write holds any of `ids`, holding them meanwhile (taken in order: no deadlock). */
  private async holding<T>(ids: readonly string[], run: () => Promise<T>): Promise<T> {
    const releases: (() => void)[] = [];
    try {
      for (const id of [...new Set(ids)].sort()) {
        const prior = this.itemLocks.get(id) ?? Promise.resolve();
        let release!: () => void;
        const mine = new Promise<void>((resolve) => (release = resolve));
        this.itemLocks.set(id, mine);
        releases.push(() => {
          release();
          if (this.itemLocks.get(id) === mine) this.itemLocks.delete(id);
        });
        await prior;
      }
      return await run();
    } finally {
      for (const release of releases) release();
    }
  }

  /** Runs one invocation of `name`: what it asks of AWS is counted as its own, and its duration added up. */
  async invocation<T>(name: string, memoryMb: number, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await this.caller.run(name, run);
    } finally {
      const entry = (this.reading.invocations[name] ??= { count: 0, ms: 0, memoryMb });
      entry.count += 1;
      entry.ms += performance.now() - started;
    }
  }

  apiRequest(): void {
    this.reading.apiRequests += 1;
  }

  snapshot(): MeterReading {
    return structuredClone(this.reading);
  }

  private add(counts: Record<string, number>, key: string, by: number) {
    counts[key] = (counts[key] ?? 0) + by;
  }
}
