import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STSClient } from '@aws-sdk/client-sts';
import { DEFAULT_PRINCIPAL_LIMITS, ENV, GatewayEnvSchema, readEnv } from '../../lambdas/contracts';
import { randomTaskId } from '../../lambdas/domain/ids';
import type { Task } from '../../lambdas/domain/task';
import { TenantCredentialsCache, tenantDataRepositories } from '../../lambdas/adapters/tenant-credentials';
import { createHandler } from '../../lambdas/mcp-gateway/handler';
import { apiGatewayFetch } from '../../bin/harness/api-gateway-fetch';
import { principal } from '../../bin/harness/in-memory';
import { connectV2 } from '../../bin/harness/mcp-clients';
import { startEmulatedPlatform, type EmulatedPlatform } from '../../bin/harness/emulated-platform';

let env: EmulatedPlatform;
let roleArn: string;
/** The gateway's variables from the template (PRINCIPAL_LIMITS defaulted until the API stack sets it). */
const gatewayEnv = () => ({ [ENV.principalLimits]: JSON.stringify(DEFAULT_PRINCIPAL_LIMITS), ...env.gatewayEnv });
beforeAll(async () => {
  env = await startEmulatedPlatform();
  roleArn = env.gatewayEnv[ENV.tenantRoleArn]!;
});
afterAll(() => env?.stop());

const newTask = (tenantId: string): Task => {
  const at = new Date().toISOString();
  return {
    tenantId, taskId: randomTaskId(), capability: 'echo', input: { hello: tenantId }, priority: 'normal', status: 'queued', version: 0,
    attempts: 0, requestHash: 'h', submittedBy: 'u', dispatchPending: true, createdAt: at, updatedAt: at,
  };
};

const sessionsOf = (tenant: string) => env.emulators.stsSessions().filter((s) => s.tags['tenant'] === tenant);

describe('tenant-scoped access through the local STS and dynalite (the emulators enforce no IAM: the template tests check the policies)', () => {
  it('gives the gateway the tenant-scoped role\'s ARN as IAM would name it, which its environment schema accepts', () => {
    expect(roleArn).toMatch(/^arn:aws:iam::000000000000:role\/.*TenantScopedAccessRole/);
    expect(readEnv(GatewayEnvSchema, gatewayEnv())[ENV.tenantRoleArn]).toBe(roleArn);
  });

  it('the local STS answers AssumeRole with temporary credentials, recording the session\'s tags', async () => {
    const cache = new TenantCredentialsCache(new STSClient(env.emulators.aws.sts!), roleArn);
    const credentials = await cache.credentialsFor('initech');
    expect(credentials.accessKeyId).toMatch(/^ASIA/);
    expect(credentials.sessionToken.length).toBeGreaterThan(20);
    expect(credentials.expiration.getTime()).toBeGreaterThan(Date.now() + 800_000);
    expect(sessionsOf('initech')).toEqual([expect.objectContaining({ roleArn, sessionName: 'switchboard-initech', tags: { tenant: 'initech' } })]);
  });

  it('a tenant\'s repositories run on its own session: a task written and read back, one AssumeRole for many calls', async () => {
    const data = tenantDataRepositories({ tableName: env.gatewayEnv[ENV.tasksTable]!, roleArn, workflows: true }, env.emulators.aws);
    const task = newTask('hooli');
    expect((await data('hooli').tasks.create(task)).created).toBe(true);
    expect(await data('hooli').tasks.get('hooli', task.taskId)).toEqual(task);
    expect((await data('hooli').tasks.list('hooli', { limit: 10 })).tasks.map((t) => t.taskId)).toEqual([task.taskId]);
    expect(await data('hooli').steps!.list('hooli', task.taskId)).toEqual([]);
    expect(sessionsOf('hooli')).toHaveLength(1);
    // Written where the function's own credentials find it too: the same table, the tenant's partition.
    expect(await env.tasks.get('hooli', task.taskId)).toEqual(task);
  });

  it('a principal reaches another tenant\'s task only through its own session (IAM would deny it); an operator\'s redrive through the task\'s tenant\'s', async () => {
    const data = tenantDataRepositories({ tableName: env.gatewayEnv[ENV.tasksTable]!, roleArn, workflows: false }, env.emulators.aws);
    const task = newTask('soylent');
    await data('soylent').tasks.create(task);
    const before = sessionsOf('soylent').length;
    await data('wonka').tasks.get('soylent', task.taskId); // a bug naming another tenant: still wonka's session
    expect(sessionsOf('soylent')).toHaveLength(before);
    expect(sessionsOf('wonka')).toHaveLength(1);
    expect(await data('platform', true).tasks.get('soylent', task.taskId)).toEqual(task); // the operator's cross-tenant path
    expect(sessionsOf('platform')).toHaveLength(0);
    expect(sessionsOf('soylent')).toHaveLength(before);
  });

  it('the gateway (createHandler, TENANT_ROLE_ARN from the template) submits and reads a task on the caller\'s tenant session, and another tenant\'s on its own', async () => {
    const handler = createHandler({ ...gatewayEnv(), [ENV.allowedHosts]: 'gateway.test' }, env.emulators.aws);
    const url = 'https://gateway.test/v1/mcp';
    const umbrella = await connectV2(url, 'token', '2025-11-25', apiGatewayFetch(handler, principal('umbrella', ['submitter'])));
    const submitted = (await umbrella.callTool('submit_task', { capability: 'echo', input: { n: 1 } })).structuredContent as { taskId: string };
    const read = await umbrella.callTool('get_task', { taskId: submitted.taskId });
    expect(read.isError).toBeFalsy();
    expect(read.structuredContent).toMatchObject({ taskId: submitted.taskId, status: 'queued' });
    expect(sessionsOf('umbrella').map((s) => s.roleArn)).toEqual([roleArn]);

    const cyberdyne = await connectV2(url, 'token', '2025-11-25', apiGatewayFetch(handler, principal('cyberdyne', ['submitter'])));
    const foreign = await cyberdyne.callTool('get_task', { taskId: submitted.taskId });
    expect(foreign.isError).toBe(true); // not found in cyberdyne's partition
    expect(sessionsOf('cyberdyne')).toHaveLength(1);
    expect(sessionsOf('umbrella')).toHaveLength(1);
    await umbrella.close();
    await cyberdyne.close();
  });
});
