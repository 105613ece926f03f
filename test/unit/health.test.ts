import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { makeHandler } from '../../lambdas/health/handler';
import { checkHealth, healthStatusCode, type DependencyProbe } from '../../lambdas/domain/use-cases/health';

const clock = { now: () => new Date('2026-11-26T12:00:00Z') };
const deps = (probes: DependencyProbe[]) => ({ probes, now: () => performance.now(), clock });
const ok = (name: string, kind: DependencyProbe['kind'] = 'table'): DependencyProbe => ({ name, kind, check: async () => undefined });
class ResourceNotFoundException extends Error {
  override name = 'ResourceNotFoundException';
}

describe('checkHealth', () => {
  it('every dependency answered: ok, 200, each with its latency', async () => {
    const report = await checkHealth(deps([ok('table:tasks'), ok('queue:critical', 'queue')]));
    expect(report).toMatchObject({ status: 'ok', failed: [], checkedAt: '2026-11-26T12:00:00.000Z' });
    expect(report.dependencies.map((d) => [d.name, d.status])).toEqual([['table:tasks', 'ok'], ['queue:critical', 'ok']]);
    expect(healthStatusCode(report)).toBe(200);
  });

  it('a dependency that fails is named with its error\'s name only (no message), and the report is 503', async () => {
    const failing: DependencyProbe = { name: 'queue:low-dlq', kind: 'queue', check: async () => { throw new ResourceNotFoundException('arn:aws:sqs:us-east-1:123456789012:secret-name does not exist'); } };
    const report = await checkHealth(deps([ok('table:tasks'), failing]));
    expect(report.status).toBe('failing');
    expect(report.failed).toEqual(['queue:low-dlq']);
    expect(report.dependencies[1]).toMatchObject({ name: 'queue:low-dlq', kind: 'queue', status: 'failed', error: 'ResourceNotFoundException' });
    expect(JSON.stringify(report)).not.toContain('123456789012');
    expect(healthStatusCode(report)).toBe(503);
  });

  it('a dependency that hangs times out on its own (aborted), is named, and does not hold the others', async () => {
    let aborted = false;
    const hanging: DependencyProbe = {
      name: 'stateMachine:triage',
      kind: 'stateMachine',
      check: (signal) => new Promise(() => signal.addEventListener('abort', () => (aborted = true))),
    };
    const started = performance.now();
    const report = await checkHealth(deps([hanging, ok('key:platform', 'key')]), { timeoutMs: 50 });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(report.failed).toEqual(['stateMachine:triage']);
    expect(report.dependencies.map((d) => d.status)).toEqual(['timeout', 'ok']);
    expect(aborted).toBe(true);
    expect(healthStatusCode(report)).toBe(503);
  });
});

describe('health function', () => {
  const event = (method: string, roles: string): APIGatewayProxyEvent =>
    ({ httpMethod: method, path: '/healthz/deep', requestContext: { authorizer: { roles } } }) as unknown as APIGatewayProxyEvent;
  const handler = makeHandler(deps([ok('table:tasks')]));

  it('answers operators with the report', async () => {
    const result = await handler(event('GET', 'viewer,operator'));
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toMatchObject({ status: 'ok', dependencies: [{ name: 'table:tasks', status: 'ok' }] });
  });

  it('refuses any other role (403) and any other method (405), with a short message and without checking', async () => {
    let checked = 0;
    const counting = makeHandler(deps([{ name: 'table:tasks', kind: 'table', check: async () => void checked++ }]));
    expect((await counting(event('GET', 'admin,submitter'))).statusCode).toBe(403);
    expect(JSON.parse((await counting(event('GET', ''))).body)).toEqual({ message: 'Forbidden: the deep health check is for the operator role' });
    expect((await counting(event('POST', 'operator'))).statusCode).toBe(405);
    expect(checked).toBe(0);
  });

  it('a failing dependency: 503 naming it', async () => {
    const failing = makeHandler(deps([{ name: 'table:audit', kind: 'table', check: async () => { throw new Error('x'); } }]));
    const result = await failing(event('GET', 'operator'));
    expect(result.statusCode).toBe(503);
    expect(JSON.parse(result.body).failed).toEqual(['table:audit']);
  });
});
