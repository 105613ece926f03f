import type { Context } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AwsClientConfig } from '../../lambdas/adapters/runtime';
import type { Env } from '../../lambdas/contracts';
import { PROJECT_ROOT } from '../../lib/constructs/switchboard-function';
import type { CostMeter } from './cost-meter';
import type { LocalFunction } from './provision';
import { LOCAL_ACCOUNT } from './provision';
import type { LocalTrail } from './trail';

type Handler = (event: unknown, context: Context) => Promise<unknown>;
interface HandlerModule {
  createHandler(env: Env, aws?: AwsClientConfig): Handler;
}

export class FunctionTimeoutError extends Error {
  override name = 'FunctionTimeoutError';
}

/** Runs a function's real handler module in-process, as Lambda would: its env, a context, its timeout. */
export class LocalFunctions {
  private readonly handlers = new Map<string, { fn: LocalFunction; handler: Handler }>();

  /**
   * With a `meter`, each invocation is counted and timed, and what it asks of AWS is its own. With a
   * `trail` (LOCAL ONLY, bin/local-cloud/trail.ts), each invocation is recorded as a Lambda Invoke
   * data event and the SDK calls it makes name the function.
   */
  constructor(
    private readonly region: string,
    private readonly meter?: CostMeter,
    private readonly trail?: LocalTrail,
  ) {}

  async load(fn: LocalFunction, aws: AwsClientConfig, overrides: Record<string, string>): Promise<void> {
    const module = (await import(pathToFileURL(join(PROJECT_ROOT, fn.entry)).href)) as Partial<HandlerModule>;
    if (typeof module.createHandler !== 'function') throw new Error(`${fn.entry} exports no createHandler(env, aws)`);
    this.handlers.set(fn.name, { fn, handler: module.createHandler({ ...fn.environment, ...overrides }, aws) });
  }

  async invoke<T>(name: string, event: unknown): Promise<T> {
    const loaded = this.handlers.get(name);
    if (!loaded) throw new Error(`local cloud: function ${name} is not loaded`);
    const deadline = Date.now() + loaded.fn.timeoutMs;
    const context: Context = {
      callbackWaitsForEmptyEventLoop: false,
      functionName: name,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${this.region}:${LOCAL_ACCOUNT}:function:${name}`,
      memoryLimitInMB: String(loaded.fn.memoryMb),
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${name}`,
      logStreamName: 'local',
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    };
    let timer: NodeJS.Timeout | undefined;
    const race = () =>
      Promise.race([
        loaded.handler(event, context),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new FunctionTimeoutError(`${name}: task timed out after ${loaded.fn.timeoutMs} ms`)), loaded.fn.timeoutMs);
        }),
      ]);
    const run = this.trail ? () => this.trail!.invocation(name, event, race, context.awsRequestId) : race;
    try {
      return (await (this.meter ? this.meter.invocation(name, loaded.fn.memoryMb, run) : run())) as T;
    } finally {
      clearTimeout(timer);
    }
  }
}
