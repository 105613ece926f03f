import { AsyncLocalStorage } from 'node:async_hooks';
import type { SdkPlugin } from '../../lambdas/adapters/runtime';

/** Who made a request: a function (by name) or the local cloud itself (the event source pollers). */
export const PLATFORM_CALLER = 'event source';

/** What the meter has seen, by kind; counts only grow (subtract two snapshots for a stretch of time). */
export interface MeterReading {
  /** `caller service Operation` → requests, e.g. `worker DynamoDB UpdateItem`. */
  requests: Record<string, number>;
  /** `caller DynamoDB Operation` → capacity units the emulator reported (read units for reads, write units for writes). */
  capacity: Record<string, number>;
  /** Function name → invocations and their summed wall-clock milliseconds. */
  invocations: Record<string, { count: number; ms: number; memoryMb: number }>;
  /** Requests the API Gateway stand-in routed to a function. */
  apiRequests: number;
}

const emptyReading = (): MeterReading => ({ requests: {}, capacity: {}, invocations: {}, apiRequests: 0 });

/** `later − earlier`, kind by kind. */
export const difference = (later: MeterReading, earlier: MeterReading): MeterReading => {
  const minus = (a: Record<string, number>, b: Record<string, number>) =>
    Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (b[k] ?? 0)]).filter(([, v]) => v !== 0));
  return {
    requests: minus(later.requests, earlier.requests),
    capacity: minus(later.capacity, earlier.capacity),
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

/**
 * Counts what the local cloud asks of AWS, for `npm run bench -- --cost`: SDK requests by caller,
 * service and operation (an SDK plugin the client factories add through `AwsClientConfig.plugins`,
 * so the handlers are counted unchanged), DynamoDB capacity units as the emulator computes them
 * (it is asked for them: `ReturnConsumedCapacity: TOTAL` is added to requests that do not set it),
 * function invocations with their durations, and API Gateway requests. A request made inside an
 * invocation belongs to that function; any other to the local cloud's own pollers.
 * An SQS ReceiveMessage that returned nothing is counted as `ReceiveMessage (empty)`.
 */
export class CostMeter {
  private readonly reading = emptyReading();
  private readonly caller = new AsyncLocalStorage<string>();

  readonly sdkPlugin: SdkPlugin = {
    applyToStack: (stack) => {
      stack.add(
        (next, context) => async (args) => {
          const service = String(context.clientName ?? 'unknown').replace(/Client$/, '');
          const operation = String(context.commandName ?? 'unknown').replace(/Command$/, '');
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
    },
  };

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
