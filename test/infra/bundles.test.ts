import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { PROJECT_ROOT, SwitchboardFunction } from '../../lib/constructs/switchboard-function';
import { POLICIES_DIR, POLICIES_PATH } from '../../lib/policies';
import { ALL_SCOPES, DEFAULT_PRINCIPAL_LIMITS } from '../../lambdas/contracts/auth';
import { readProjectConfig, synthesizeBundles } from '../../bin/local-cloud/synth';

const run = promisify(execFile);

/** The Lambda artifacts themselves (esbuild bundles, as deployed), loaded as Lambda loads them: CommonJS. */
let bundles: Map<string, string>;

beforeAll(() => {
  bundles = synthesizeBundles(readProjectConfig());
}, 120_000);

/** Invokes a bundle's `handler` in a fresh Node process, the AWS SDK coming from node_modules as the runtime provides it. */
const invoke = async (entry: string, env: Record<string, string>, event: unknown) => {
  const script = join(mkdtempSync(join(tmpdir(), 'switchboard-invoke-')), 'invoke.cjs');
  writeFileSync(
    script,
    `const { handler } = require(${JSON.stringify(bundles.get(entry))});
     handler(${JSON.stringify(event)}, { awsRequestId: 'r', functionName: 'f', getRemainingTimeInMillis: () => 10000 })
       .then((r) => process.stdout.write('RESULT ' + JSON.stringify(r)), (e) => { console.error(e); process.exit(1); });`,
  );
  const { stdout } = await run(process.execPath, [script], {
    // LAMBDA_TASK_ROOT: the bundle's folder, where Lambda runs it (the gateway finds its policies there).
    cwd: tmpdir(),
    env: { ...process.env, ...env, LAMBDA_TASK_ROOT: dirname(bundles.get(entry)!), NODE_PATH: join(PROJECT_ROOT, 'node_modules'), AWS_REGION: 'us-east-1', POWERTOOLS_METRICS_DISABLED: 'true', POWERTOOLS_LOG_LEVEL: 'ERROR' },
  });
  return JSON.parse(stdout.slice(stdout.indexOf('RESULT ') + 7));
};

const gatewayEnv = {
  TASKS_TABLE_NAME: 'tasks', AUDIT_TABLE_NAME: 'audit', ENABLED_AGENTS: 'echo', MCP_MAX_BODY_BYTES: '1048576',
  QUEUE_URL_CRITICAL: 'https://sqs.us-east-1.amazonaws.com/1/c.fifo', QUEUE_URL_HIGH: 'https://sqs.us-east-1.amazonaws.com/1/h.fifo',
  QUEUE_URL_NORMAL: 'https://sqs.us-east-1.amazonaws.com/1/n.fifo', QUEUE_URL_LOW: 'https://sqs.us-east-1.amazonaws.com/1/l.fifo',
  AUTH_RESOURCE: 'https://abc.execute-api.us-east-1.amazonaws.com/v1/mcp', PRINCIPAL_LIMITS: JSON.stringify(DEFAULT_PRINCIPAL_LIMITS),
};
const proxyEvent = (body: unknown, headers: Record<string, string>) => ({
  httpMethod: 'POST', path: '/mcp', resource: '/mcp',
  headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', Host: 'abc.execute-api.us-east-1.amazonaws.com', ...headers },
  multiValueHeaders: {}, body: JSON.stringify(body), isBase64Encoded: false,
  requestContext: { authorizer: { tenantId: 'acme', subject: 'u', roles: 'submitter', scopes: ALL_SCOPES.join(' ') } },
});

describe('bundled Lambda artifacts', () => {
  it('bundles every function, each well under the 50 MB zipped limit', () => {
    expect([...bundles.keys()].sort()).toEqual([
      'lambdas/authorizer/handler.ts', 'lambdas/dead-letter/handler.ts', 'lambdas/health/handler.ts', 'lambdas/identity/pre-token.ts', 'lambdas/mcp-gateway/handler.ts', 'lambdas/reconciler/handler.ts', 'lambdas/worker/handler.ts',
      'lambdas/workflow/handler.ts',
    ]);
    for (const file of bundles.values()) expect(readFileSync(file).length).toBeLessThan(5 * 1024 * 1024);
  });

  it('the health bundle loads and answers 405 to a POST and 403 to a submitter, without calling anything', async () => {
    const checks = { tables: { tasks: 'tasks' }, queues: {}, keys: {}, stateMachines: {} };
    const result = await invoke('lambdas/health/handler.ts', { HEALTH_CHECKS: JSON.stringify(checks) }, proxyEvent({}, {}));
    expect(result.statusCode).toBe(405);
    const get = await invoke('lambdas/health/handler.ts', { HEALTH_CHECKS: JSON.stringify(checks) }, { ...proxyEvent({}, {}), httpMethod: 'GET' });
    expect([get.statusCode, JSON.parse(get.body).message]).toEqual([403, 'Forbidden: the deep health check is for the operator role']);
  });

  it('the MCP gateway bundle answers a 2025-era tools/list', async () => {
    const result = await invoke('lambdas/mcp-gateway/handler.ts', gatewayEnv, proxyEvent({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, {}));
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body).result.tools.map((t: { name: string }) => t.name)).toContain('submit_task');
  });

  it('the MCP gateway bundle answers a 2026-era server/discover', async () => {
    const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
    const result = await invoke(
      'lambdas/mcp-gateway/handler.ts',
      gatewayEnv,
      proxyEvent({ jsonrpc: '2.0', id: 2, method: 'server/discover', params: { _meta: meta } }, { 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'server/discover' }),
    );
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body).result.supportedVersions).toEqual(['2026-07-28']);
  });

  it('the worker bundle reports a poison record as a batch item failure', async () => {
    const result = await invoke(
      'lambdas/worker/handler.ts',
      { TASKS_TABLE_NAME: 'tasks', AUDIT_TABLE_NAME: 'audit', ENABLED_AGENTS: 'echo', WORKER_MAX_ATTEMPTS: '3', WORKER_LEASE_MS: '30000' },
      { Records: [{ messageId: 'm1', receiptHandle: 'r', body: 'not json', attributes: { MessageGroupId: 'acme', ApproximateReceiveCount: '1', SentTimestamp: '1', SenderId: 's', ApproximateFirstReceiveTimestamp: '1' }, messageAttributes: {}, md5OfBody: 'x', eventSource: 'aws:sqs', eventSourceARN: 'arn:aws:sqs:us-east-1:1:q.fifo', awsRegion: 'us-east-1' }] },
    );
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
  });
});

describe('the access policy as bundled with the gateway (cedar-wasm beside the JS, lib/policies beside it)', () => {
  it('loads the shipped policies from the bundle\'s own folder and decides', async () => {
    const outdir = mkdtempSync(join(tmpdir(), 'switchboard-policy-bundle-'));
    const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
    const stack = new Stack(app, 'PolicyBundle');
    // The gateway's own bundling options, with the adapter as entry so the test can call it.
    new SwitchboardFunction(stack, 'Access', {
      entry: 'lambdas/adapters/cedar-access-policy.ts',
      description: 'access policy bundle',
      removalPolicy: RemovalPolicy.DESTROY,
      accessPolicies: { from: POLICIES_DIR, to: POLICIES_PATH },
    });
    const template = app.synth().getStackByName('PolicyBundle').template as { Resources: Record<string, { Type: string; Metadata?: Record<string, string> }> };
    const fn = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function')!;
    const taskRoot = join(outdir, fn.Metadata!['aws:asset:path']!);
    const script = join(mkdtempSync(join(tmpdir(), 'switchboard-invoke-')), 'decide.cjs');
    writeFileSync(
      script,
      `const m = require(${JSON.stringify(join(taskRoot, 'index.js'))});
       const access = m.cedarAccessPolicy(m.policiesDirOf({ LAMBDA_TASK_ROOT: ${JSON.stringify(taskRoot)}, POLICIES_DIR: ${JSON.stringify(POLICIES_PATH)} }, '/nonexistent'));
       const who = { tenantId: 'acme', subject: 'u', roles: ['submitter'] };
       process.stdout.write(JSON.stringify([access.decide(who, 'submit_task', { priority: 'high' }).allowed, access.decide(who, 'submit_task', { priority: 'critical' }).reason]));`,
    );
    // No node_modules on the path: the bundle must carry everything, the .wasm included.
    const { stdout } = await run(process.execPath, [script], { cwd: tmpdir(), env: { PATH: process.env.PATH ?? '' } });
    expect(JSON.parse(stdout)).toEqual([true, 'submit_task with priority critical is not permitted for roles submitter (critical-priority-admin-only)']);
  }, 120_000);
});
