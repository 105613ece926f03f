import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context, SQSRecord } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fifoBatchHandler, instrument } from '../../lambdas/adapters/lambda-entry';
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

describe('fifoBatchHandler(): message groups of a batch', () => {
  const record = (messageId: string, group: string): SQSRecord => ({
    messageId, receiptHandle: messageId, body: messageId, messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:1:q.fifo', awsRegion: 'us-east-1',
    attributes: { MessageGroupId: group } as SQSRecord['attributes'],
  });
  const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

  it('runs the records of one group one after another, in batch order', async () => {
    const log: string[] = [];
    const handler = fifoBatchHandler(async (r) => {
      log.push(`start ${r.messageId}`);
      await tick();
      log.push(`end ${r.messageId}`);
    });
    const response = await handler({ Records: ['a1', 'a2', 'a3'].map((id) => record(id, 'a')) });
    expect(response).toEqual({ batchItemFailures: [] });
    expect(log).toEqual(['start a1', 'end a1', 'start a2', 'end a2', 'start a3', 'end a3']);
  });

  it('runs different groups at the same time', async () => {
    let running = 0;
    let most = 0;
    const handler = fifoBatchHandler(async () => {
      most = Math.max(most, (running += 1));
      await tick();
      running -= 1;
    });
    await handler({ Records: ['a', 'b', 'c', 'd'].flatMap((g) => [record(`${g}1`, g), record(`${g}2`, g)]) });
    expect(most).toBe(4);
  });

  it('on a failure fails the rest of that group only, and reports them in batch order', async () => {
    const ran: string[] = [];
    const handler = fifoBatchHandler(async (r) => {
      await tick();
      if (r.messageId === 'a2') throw new Error('boom');
      ran.push(r.messageId);
    });
    const records = [record('a1', 'a'), record('b1', 'b'), record('a2', 'a'), record('b2', 'b'), record('a3', 'a'), record('b3', 'b')];
    const response = await handler({ Records: records });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'a2' }, { itemIdentifier: 'a3' }]);
    expect(ran.sort()).toEqual(['a1', 'b1', 'b2', 'b3']);
  });
});
