import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { instrument } from '../../lambdas/adapters/lambda-entry';
import { PowertoolsTaskTelemetry } from '../../lambdas/adapters/powertools-telemetry';
import { createLogger, LOG_LEVELS } from '../../lambdas/adapters/runtime';

const context = { functionName: 'fn-under-test', awsRequestId: 'r', getRemainingTimeInMillis: () => 1000 } as unknown as Context;

describe('instrument(): Powertools metrics', () => {
  let emf: Record<string, unknown>[];
  let warnings: string[];
  let metrics: Metrics;

  const observe = () => ({ logger: new Logger({ logLevel: 'SILENT' }), tracer: new Tracer({ enabled: false }), metrics });
  const metricNames = () => emf.flatMap((e) => (e['_aws'] as { CloudWatchMetrics: { Metrics: { Name: string }[] }[] }).CloudWatchMetrics[0]!.Metrics.map((m) => m.Name));

  beforeEach(() => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    vi.stubEnv('POWERTOOLS_DEV', '');
    // As in Lambda: Powertools counts a cold start only in an on-demand execution environment.
    vi.stubEnv('AWS_LAMBDA_INITIALIZATION_TYPE', 'on-demand');
    emf = [];
    warnings = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed['_aws']) emf.push(parsed);
      }
      return true;
    });
    const record = (message: unknown) => void warnings.push(String(message));
    metrics = new Metrics({
      namespace: 'Switchboard',
      serviceName: 'test',
      logger: { debug: () => undefined, info: () => undefined, warn: record, error: record },
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it('warns about nothing when an invocation stored no metric, and still emits the cold start once', async () => {
    const handler = instrument(async () => 'ok', observe());
    expect(await handler(undefined, context)).toBe('ok');
    expect(await handler(undefined, context)).toBe('ok');
    expect(warnings).toEqual([]);
    expect(metricNames()).toEqual(['ColdStart']);
    expect(emf[0]).toMatchObject({ function_name: 'fn-under-test', service: 'test', ColdStart: 1 });
  });

  it('publishes the metrics an invocation stored, also when it throws', async () => {
    const handler = instrument(async (fail: boolean) => {
      metrics.addMetric('Stored', MetricUnit.Count, 1);
      if (fail) throw new Error('boom');
    }, observe());
    await handler(false, context);
    await expect(handler(true, context)).rejects.toThrow('boom');
    expect(metricNames()).toEqual(['ColdStart', 'Stored', 'Stored']);
    expect(warnings).toEqual([]);
  });

  it('emits the task metrics of an invocation', async () => {
    const telemetry = new PowertoolsTaskTelemetry(metrics);
    const handler = instrument(async () => telemetry.record('submitted', { priority: 'high', capability: 'echo' }), observe());
    await handler(undefined, context);
    expect(metricNames()).toEqual(['ColdStart', 'TaskSubmitted']);
    expect(warnings).toEqual([]);
  });
});

describe('createLogger(): the log level', () => {
  it('takes each documented level from POWERTOOLS_LOG_LEVEL, in any case', () => {
    for (const level of LOG_LEVELS) {
      expect(createLogger('t', { POWERTOOLS_LOG_LEVEL: level.toLowerCase() }).getLevelName()).toBe(level);
    }
  });
});
