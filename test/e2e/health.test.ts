import { DeleteQueueCommand, GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCloud, type LocalCloud } from '../../bin/local-cloud/cloud';
import type { HealthReport } from '../../lambdas/domain/use-cases/health';

/**
 * Health on the local cloud (docs/operations.md): /healthz is liveness (the template's MOCK),
 * /healthz?deep=1 (loopback, local only) and /healthz/deep (the authorizer, operators) run the
 * template's health function, which describes every table, queue, key and state machine.
 */
let cloud: LocalCloud;
beforeAll(async () => {
  cloud = await startLocalCloud({ port: 0, dataDir: mkdtempSync(join(tmpdir(), 'switchboard-health-')), inMemory: true, log: () => undefined, logLevel: 'SILENT' });
}, 60_000);
afterAll(() => cloud?.stop());

const get = async (path: string, token?: string) => {
  const response = await fetch(`${cloud.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: response.status, body: (await response.json()) as unknown };
};

describe('health on the local cloud', () => {
  it('GET /healthz: liveness from the template, fast', async () => {
    const started = performance.now();
    const { status, body } = await get('/healthz');
    expect(performance.now() - started).toBeLessThan(500);
    expect([status, body]).toEqual([200, { ready: true }]);
  });

  it('GET /healthz?deep=1: every dependency of the template described and answering', async () => {
    const { status, body } = await get('/healthz?deep=1');
    const report = body as HealthReport;
    expect(status, JSON.stringify(report.failed)).toBe(200);
    expect(report.status).toBe('ok');
    const names = report.dependencies.map((d) => d.name);
    for (const name of ['table:tasks', 'table:audit', 'queue:critical', 'queue:low-dlq', 'key:local-envelope-key-file', 'key:local-audit-signing-key-file', 'stateMachine:triage']) {
      expect(names).toContain(name);
    }
    expect(report.dependencies.every((d) => d.status === 'ok' && d.latencyMs < 2000)).toBe(true);
  });

  it('GET /healthz/deep through the local API Gateway: 401 without a token, 403 for a submitter, the report for an operator', async () => {
    expect((await get('/healthz/deep')).status).toBe(401);
    const submitter = await cloud.token({ tenant: 'acme', roles: ['submitter'] });
    expect(await get('/healthz/deep', submitter)).toEqual({ status: 403, body: { message: 'Forbidden: the deep health check is for the operator role' } });
    const operator = await cloud.token({ tenant: 'platform', roles: ['operator'] });
    const { status, body } = await get('/healthz/deep', operator);
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'ok', failed: [] });
  });

  it('a queue that is gone is named, and the answer is 503', async () => {
    const sqs = new SQSClient(cloud.aws.sqs ?? {});
    const queues = cloud.platform.functions;
    const healthEnv = [...queues.values()].find((fn) => 'HEALTH_CHECKS' in fn.environment)!.environment['HEALTH_CHECKS']!;
    const lowDlq = (JSON.parse(healthEnv) as { queues: Record<string, string> }).queues['low-dlq']!;
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: lowDlq.split('/').pop()! }));
    await sqs.send(new DeleteQueueCommand({ QueueUrl: QueueUrl! }));
    const { status, body } = await get('/healthz?deep=1');
    expect(status).toBe(503);
    expect(body).toMatchObject({ status: 'failing', failed: ['queue:low-dlq'] });
    expect((body as HealthReport).dependencies.find((d) => d.name === 'queue:low-dlq')).toMatchObject({ status: 'failed', error: expect.stringMatching(/^[A-Za-z.]+$/) });
  });
});
