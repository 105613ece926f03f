import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { connectV1Tasks, connectV2Tasks, rpcCodeOf } from '../../bin/harness/mcp-task-clients';
import { gatewayWithFakes, IN_MEMORY_RESOURCE } from '../../bin/harness/in-memory-gateway';
import { apiGatewayFetch, type VerifiedCaller } from '../../bin/harness/api-gateway-fetch';
import { principal } from '../../bin/harness/in-memory';
import { RELATED_TASK_META, TASKS_EXTENSION } from '../../lambdas/contracts';
import { ROLES, type Role } from '../../lambdas/domain/principal';
import { TASK_METHODS } from '../../lambdas/contracts';

const info = { name: 'tasks-test', version: '1.0.0' };
const ECHO = { capability: 'echo', input: { say: 'hi' } };
const Loose = z.looseObject({});
type Gateway = ReturnType<typeof gatewayWithFakes>;

const caller = (tenant = 'acme', roles: Role[] = ['submitter'], scopes?: string[]): VerifiedCaller => ({ ...principal(tenant, roles), ...(scopes ? { scopes } : {}) });

/** A v1 SDK client (2025-11-25) with its task API. */
const v1 = (gateway: Gateway, who = caller()) => connectV1Tasks(IN_MEMORY_RESOURCE, 'token', apiGatewayFetch(gateway.handler, who));

/** A v2 SDK client pinned to 2026-07-28, declaring the tasks extension (or not). */
const v2 = (gateway: Gateway, who = caller(), extension = true) =>
  connectV2Tasks(IN_MEMORY_RESOURCE, 'token', { extension, fetch: apiGatewayFetch(gateway.handler, who) });

describe('MCP tasks, 2025-11-25 (the v1 SDK client\'s task API)', () => {
  it('advertises the tasks capability and taskSupport optional on submit_task and start_workflow only', async () => {
    const client = await v1(gatewayWithFakes());
    expect(client.getServerCapabilities()?.tasks).toEqual({ list: {}, cancel: {}, requests: { tools: { call: {} } } });
    const { tools } = await client.listTools();
    const asTasks = tools.filter((tool) => tool.execution?.taskSupport === 'optional').map((tool) => tool.name).sort();
    expect(asTasks).toEqual(['start_workflow', 'submit_task']);
  });

  it('runs submit_task as a task: handle, tasks/get, tasks/list, tasks/result with the task whole', async () => {
    const gateway = gatewayWithFakes();
    const client = await v1(gateway);
    const created = await client.request(
      { method: 'tools/call', params: { name: 'submit_task', arguments: ECHO, task: { ttl: 60_000 } } },
      CreateTaskResultSchema,
    );
    const { taskId } = created.task;
    expect(taskId).toMatch(/^tsk_/);
    expect(created.task).toMatchObject({ status: 'working', ttl: null, pollInterval: 2000, statusMessage: 'queued at priority normal' });
    // Durable before the handle: the task is in the store.
    expect(await gateway.deps.tasks.get('acme', taskId)).toMatchObject({ status: 'queued' });

    expect(await client.experimental.tasks.getTask(taskId)).toMatchObject({ taskId, status: 'working' });
    expect((await client.experimental.tasks.listTasks()).tasks.map((task) => task.taskId)).toEqual([taskId]);

    await gateway.runQueued();
    const done = await client.experimental.tasks.getTask(taskId);
    expect(done).toMatchObject({ taskId, status: 'completed', ttl: null });
    expect(done.pollInterval).toBeUndefined();
    const result = await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ taskId, status: 'succeeded', result: { say: 'hi' } });
    expect(result._meta?.[RELATED_TASK_META]).toEqual({ taskId });
  });

  it('follows a task to its result with callToolStream', async () => {
    const gateway = gatewayWithFakes();
    const client = await v1(gateway);
    await client.listTools(); // the client validates the final result against submit_task's output schema
    const seen: string[] = [];
    let final: unknown;
    for await (const message of client.experimental.tasks.callToolStream({ name: 'submit_task', arguments: ECHO }, CallToolResultSchema, { task: { ttl: 60_000 } })) {
      seen.push(message.type);
      if (message.type === 'taskCreated') await gateway.runQueued();
      if (message.type === 'result') final = message.result;
      if (message.type === 'error') throw message.error;
    }
    expect(seen).toEqual(['taskCreated', 'taskStatus', 'result']);
    expect(final).toMatchObject({ structuredContent: { status: 'succeeded', result: { say: 'hi' } } });
  });

  it('cancels through tasks/cancel; a terminal task cannot be cancelled (-32602)', async () => {
    const gateway = gatewayWithFakes();
    const client = await v1(gateway);
    const { task } = await client.request({ method: 'tools/call', params: { name: 'submit_task', arguments: ECHO, task: {} } }, CreateTaskResultSchema);
    const cancelled = await client.experimental.tasks.cancelTask(task.taskId);
    expect(cancelled).toMatchObject({ taskId: task.taskId, status: 'cancelled', statusMessage: 'cancelled' });
    expect(await gateway.deps.tasks.get('acme', task.taskId)).toMatchObject({ status: 'cancelled' });
    expect(await rpcCodeOf(client.experimental.tasks.cancelTask(task.taskId))).toBe(-32602);
    const result = await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(result.isError).toBe(true);
    expect(result.content).toEqual([{ type: 'text', text: `CANCELLED: task ${task.taskId} was cancelled` }]);
  });

  it('reports a failed task as failed, and its result as the tool error CODE: message', async () => {
    const gateway = gatewayWithFakes();
    const client = await v1(gateway);
    const { task } = await client.request({ method: 'tools/call', params: { name: 'submit_task', arguments: ECHO, task: {} } }, CreateTaskResultSchema);
    const stored = (await gateway.deps.tasks.get('acme', task.taskId))!;
    await gateway.deps.tasks.update(stored, { status: 'failed', error: { code: 'AGENT_ERROR', message: 'the model refused' } }, new Date());
    expect(await client.experimental.tasks.getTask(task.taskId)).toMatchObject({ status: 'failed', statusMessage: 'AGENT_ERROR: the model refused' });
    const result = await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(result).toMatchObject({ isError: true, content: [{ type: 'text', text: 'AGENT_ERROR: the model refused' }] });

    // A failure of the platform, not of the work: the protocol error (-32603), as in 2026.
    const { task: lost } = await client.request({ method: 'tools/call', params: { name: 'submit_task', arguments: ECHO, task: {} } }, CreateTaskResultSchema);
    const lostStored = (await gateway.deps.tasks.get('acme', lost.taskId))!;
    await gateway.deps.tasks.update(lostStored, { status: 'failed', error: { code: 'DEAD_LETTERED', message: 'its message reached the dead-letter queue' } }, new Date());
    const error = await client.experimental.tasks.getTaskResult(lost.taskId, CallToolResultSchema).catch((e: unknown) => e as { code: number; message: string; data: unknown });
    expect(error).toMatchObject({ code: -32603, message: expect.stringMatching(/DEAD_LETTERED: its message reached/), data: { code: 'DEAD_LETTERED' } });
  });

  it('answers tasks/result of a task still working with -32001 after its bounded wait', async () => {
    const gateway = gatewayWithFakes({ taskMethods: { resultWaitMs: 150, resultPollMs: 50 } });
    const client = await v1(gateway);
    const { task } = await client.request({ method: 'tools/call', params: { name: 'submit_task', arguments: ECHO, task: {} } }, CreateTaskResultSchema);
    const error = await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema).catch((e: unknown) => e as { code: number; message: string });
    expect(error).toMatchObject({ code: -32001 });
    expect((error as { message: string }).message).toMatch(/still queued after 0 s; call tasks\/result again/);
  });

  it('refuses task augmentation of a tool that does not run as a task (-32601); a plain call still works', async () => {
    const gateway = gatewayWithFakes();
    const client = await v1(gateway);
    const error = await client
      .request({ method: 'tools/call', params: { name: 'list_tasks', arguments: {}, task: {} } }, CreateTaskResultSchema)
      .catch((e: unknown) => e as { code: number; message: string });
    expect(error).toMatchObject({ code: -32601, message: expect.stringMatching(/list_tasks does not run as a task/) });
    const plain = await client.callTool({ name: 'submit_task', arguments: ECHO });
    expect(plain.structuredContent).toMatchObject({ status: 'queued' });
    expect((plain as { task?: unknown }).task).toBeUndefined();
  });

  it('answers a task-augmented call that created no task with a JSON-RPC error naming the code, and writes nothing', async () => {
    const gateway = gatewayWithFakes();
    const asTask = (client: Awaited<ReturnType<typeof v1>>, args: Record<string, unknown>) =>
      client
        .request({ method: 'tools/call', params: { name: 'submit_task', arguments: args, task: {} } }, CreateTaskResultSchema)
        .catch((e: unknown) => e as { code: number; message: string; data?: unknown });
    const viewer = await v1(gateway, caller('acme', ['viewer']));
    expect(await asTask(viewer, ECHO)).toMatchObject({ code: -32003, message: expect.stringMatching(/FORBIDDEN: submit_task .* not permitted for roles viewer/), data: { code: 'FORBIDDEN' } });
    const submitter = await v1(gateway);
    expect(await asTask(submitter, { capability: 'nope', input: {} })).toMatchObject({ code: -32602, data: { code: 'UNKNOWN_CAPABILITY' } });
    expect(await asTask(submitter, { capability: 'echo', input: {}, extra: 1 })).toMatchObject({ code: -32602 });
    expect((await gateway.deps.tasks.list('acme', { limit: 10 })).tasks).toEqual([]);
  });

  it('answers a store failure with -32603 INTERNAL, in-band, without internals', async () => {
    const gateway = gatewayWithFakes();
    const client = await v1(gateway);
    const { task } = await client.request({ method: 'tools/call', params: { name: 'submit_task', arguments: ECHO, task: {} } }, CreateTaskResultSchema);
    gateway.deps.tasks.get = async () => {
      throw new Error('ProvisionedThroughputExceededException at /var/task/index.js:1:2');
    };
    const error = (await client.experimental.tasks.getTask(task.taskId).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code: number; message: string; data: unknown };
    expect(error).toMatchObject({ code: -32603, data: { code: 'INTERNAL' } });
    expect(error.message).toMatch(/INTERNAL: the request could not be completed; retry later/);
    expect(error.message).not.toMatch(/Provisioned|index\.js/);
  });

  it('answers -32602 for an unknown or malformed task id, and for a cursor that is no cursor', async () => {
    const client = await v1(gatewayWithFakes());
    expect(await rpcCodeOf(client.experimental.tasks.getTask('tsk_aaaaaaaaaaaaaaaaaaaaaaaaaa'))).toBe(-32602);
    expect(await rpcCodeOf(client.experimental.tasks.getTask('not-a-task'))).toBe(-32602);
    expect(await rpcCodeOf(client.experimental.tasks.getTask('x'.repeat(300)))).toBe(-32602);
    expect(await rpcCodeOf(client.experimental.tasks.cancelTask('../../etc'))).toBe(-32602);
    expect(await rpcCodeOf(client.request({ method: 'tasks/get', params: {} } as never, Loose as never))).toBe(-32602);
  });
});

describe('MCP tasks, 2026-07-28 (the tasks extension)', () => {
  it('advertises the extension, not capabilities.tasks', async () => {
    const { client } = await v2(gatewayWithFakes());
    const capabilities = client.getServerCapabilities() as Record<string, unknown>;
    expect(capabilities['extensions']).toEqual({ [TASKS_EXTENSION]: {} });
    expect(capabilities['tasks']).toBeUndefined();
  });

  it('answers a declaring client with a flat CreateTaskResult, then DetailedTask with the result inlined', async () => {
    const gateway = gatewayWithFakes();
    const { callAsTask, request } = await v2(gateway);
    const handle = await callAsTask('submit_task', ECHO);
    expect(handle).toMatchObject({ resultType: 'task', status: 'working', ttlMs: null, pollIntervalMs: 2000 });
    for (const key of ['task', 'ttl', 'pollInterval', 'result', 'error', 'requestState', 'inputRequests']) expect(handle, key).not.toHaveProperty(key);
    const { taskId } = handle;
    expect(await request('tasks/get', { taskId })).toMatchObject({ taskId, status: 'working', statusMessage: 'queued at priority normal' });

    await gateway.runQueued();
    const done = await request('tasks/get', { taskId });
    expect(done).toMatchObject({ taskId, status: 'completed', result: { structuredContent: { status: 'succeeded', result: { say: 'hi' } } } });
    expect((done['result'] as { content: unknown[] }).content.length).toBeGreaterThan(0);
    expect(done).not.toHaveProperty('error');
    expect((done['result'] as { _meta?: Record<string, unknown> })._meta?.[RELATED_TASK_META]).toBeUndefined();
  });

  it('acknowledges tasks/cancel and tasks/update with an empty result, on a terminal task too', async () => {
    const gateway = gatewayWithFakes();
    const { callAsTask, request, wire } = await v2(gateway);
    const { taskId } = await callAsTask('submit_task', ECHO);
    expect(await request('tasks/update', { taskId, inputResponses: { unknown: { action: 'accept' } } })).toEqual({});
    expect(JSON.parse(wire.last).result).toMatchObject({ resultType: 'complete' });
    expect(await request('tasks/cancel', { taskId })).toEqual({});
    expect(JSON.parse(wire.last).result).not.toHaveProperty('taskId');
    expect(await request('tasks/get', { taskId })).toMatchObject({ status: 'cancelled' });
    expect(await request('tasks/cancel', { taskId })).toEqual({});
    expect(await gateway.deps.tasks.get('acme', taskId)).toMatchObject({ status: 'cancelled' });
  });

  it('reports the work\'s failure as completed with result.isError, a platform failure as failed with an error', async () => {
    const gateway = gatewayWithFakes();
    const { callAsTask, request } = await v2(gateway);
    const failWith = async (code: string) => {
      const { taskId } = await callAsTask('submit_task', ECHO);
      const stored = (await gateway.deps.tasks.get('acme', taskId))!;
      await gateway.deps.tasks.update(stored, { status: 'failed', error: { code, message: 'it went wrong' } }, new Date());
      return request('tasks/get', { taskId });
    };
    const agent = await failWith('AGENT_ERROR');
    expect(agent).toMatchObject({ status: 'completed', result: { isError: true, content: [{ type: 'text', text: 'AGENT_ERROR: it went wrong' }] } });
    const platform = await failWith('DEAD_LETTERED');
    expect(platform).toMatchObject({ status: 'failed', error: { code: -32603, message: 'DEAD_LETTERED: it went wrong', data: { code: 'DEAD_LETTERED' } } });
    expect(platform).not.toHaveProperty('result');
  });

  it('serves neither tasks/result nor tasks/list (-32601)', async () => {
    const { client } = await v2(gatewayWithFakes());
    // The v2 client refuses to send core 2025 methods on a 2026 connection, so they go as extension requests with a schema.
    for (const method of ['tasks/result', 'tasks/list']) {
      const answer = await apiGatewayFetch(gatewayWithFakes().handler, caller())(IN_MEMORY_RESOURCE, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': method },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { taskId: 'tsk_aaaaaaaaaaaaaaaaaaaaaaaaaa', _meta: META } }),
      });
      expect((await answer.json()) as unknown, method).toMatchObject({ error: { code: -32601 } });
    }
    await client.close();
  });

  it('gives a client that did not declare the extension a plain result, and -32021 on every task method', async () => {
    const gateway = gatewayWithFakes();
    const { client, request } = await v2(gateway, caller(), false);
    const plain = await client.callTool({ name: 'submit_task', arguments: ECHO });
    expect(plain.structuredContent).toMatchObject({ status: 'queued' });
    const { taskId } = plain.structuredContent as { taskId: string };
    for (const [method, params] of [['tasks/get', { taskId }], ['tasks/cancel', { taskId }], ['tasks/update', { taskId, inputResponses: {} }]] as const) {
      const error = await request(method, params).catch((e: unknown) => e as { code: number; data: unknown });
      expect(error, method).toMatchObject({ code: -32021, data: { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } } });
    }
    expect(await gateway.deps.tasks.get('acme', taskId)).toMatchObject({ status: 'queued' });
  });

  it('answers -32602 for an unknown task id and short messages for bad params', async () => {
    const { request } = await v2(gatewayWithFakes());
    expect(await rpcCodeOf(request('tasks/get', { taskId: 'tasks-conformance-nonexistent-12345' }))).toBe(-32602);
    expect(await rpcCodeOf(request('tasks/cancel', { taskId: 'tsk_aaaaaaaaaaaaaaaaaaaaaaaaaa' }))).toBe(-32602);
    expect(await rpcCodeOf(request('tasks/update', { taskId: 'tsk_aaaaaaaaaaaaaaaaaaaaaaaaaa', inputResponses: {} }))).toBe(-32602);
    const error = await request('tasks/get', { taskId: 42 }).catch((e: unknown) => e as { code: number; message: string });
    expect(error).toMatchObject({ code: -32602 });
    expect((error as { message: string }).message.length).toBeLessThan(200);
  });
});

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': { extensions: { [TASKS_EXTENSION]: {} } },
  'io.modelcontextprotocol/clientInfo': info,
};

describe('MCP tasks: tenants and roles', () => {
  it('hides tenant A\'s task from tenant B behind every task method, in both eras', async () => {
    const gateway = gatewayWithFakes();
    const a = await v1(gateway, caller('acme'));
    const { task } = await a.request({ method: 'tools/call', params: { name: 'submit_task', arguments: ECHO, task: {} } }, CreateTaskResultSchema);
    const { taskId } = task;

    const legacyB = await v1(gateway, caller('globex'));
    expect(await rpcCodeOf(legacyB.experimental.tasks.getTask(taskId))).toBe(-32602);
    expect(await rpcCodeOf(legacyB.experimental.tasks.getTaskResult(taskId, CallToolResultSchema))).toBe(-32602);
    expect(await rpcCodeOf(legacyB.experimental.tasks.cancelTask(taskId))).toBe(-32602);
    expect((await legacyB.experimental.tasks.listTasks()).tasks).toEqual([]);

    const modernB = await v2(gateway, caller('globex'));
    expect(await rpcCodeOf(modernB.request('tasks/get', { taskId }))).toBe(-32602);
    expect(await rpcCodeOf(modernB.request('tasks/cancel', { taskId }))).toBe(-32602);
    expect(await rpcCodeOf(modernB.request('tasks/update', { taskId, inputResponses: {} }))).toBe(-32602);

    expect(await gateway.deps.tasks.get('acme', taskId)).toMatchObject({ status: 'queued' });
    expect(await a.experimental.tasks.getTask(taskId)).toMatchObject({ status: 'working' });
  });

  it('decides each method as its tool: a viewer reads but cannot cancel (FORBIDDEN, audited); a token without the scope gets 403', async () => {
    const gateway = gatewayWithFakes();
    const submitter = await v1(gateway);
    const { task } = await submitter.request({ method: 'tools/call', params: { name: 'submit_task', arguments: ECHO, task: {} } }, CreateTaskResultSchema);
    const viewer = await v1(gateway, caller('acme', ['viewer']));
    expect(await viewer.experimental.tasks.getTask(task.taskId)).toMatchObject({ status: 'working' });
    const denied = await viewer.experimental.tasks.cancelTask(task.taskId).catch((e: unknown) => e as { code: number; message: string });
    expect(denied).toMatchObject({ code: -32003, message: expect.stringMatching(/FORBIDDEN: cancel_task is not permitted for roles viewer/) });
    expect(await gateway.deps.tasks.get('acme', task.taskId)).toMatchObject({ status: 'queued' });

    const entries = await gateway.deps.audit.list('acme', { fromSeq: 1, limit: 1000 });
    const actions = entries.map(({ entry }) => `${entry?.action}:${entry?.decision}:${entry?.outcome.status}`);
    expect(actions).toContain('tasks/get:allow:ok');
    expect(actions).toContain('tasks/cancel:deny:error');

    const readOnlyToken = await v1(gateway, caller('acme', ['submitter'], ['switchboard/tasks.read']));
    expect(await readOnlyToken.experimental.tasks.getTask(task.taskId)).toMatchObject({ status: 'working' });
    const scoped = await readOnlyToken.experimental.tasks.cancelTask(task.taskId).catch((e: unknown) => e as { code: number; message: string });
    // HTTP 403 with the challenge (the v1 client surfaces the status and the body).
    expect(scoped).toMatchObject({ code: 403, message: expect.stringMatching(/insufficient_scope: tool tasks\/cancel requires scope switchboard\/tasks.write/) });
  });

  it('lets each role call a task method exactly when it may call the tool the method stands for, in both eras', async () => {
    const gateway = gatewayWithFakes();
    const admin = await v1(gateway, caller('acme', ['admin']));
    const fresh = async () =>
      (await admin.request({ method: 'tools/call', params: { name: 'submit_task', arguments: ECHO, task: {} } }, CreateTaskResultSchema)).task.taskId;
    const mismatches: string[] = [];
    for (const role of ROLES) {
      const allowed = gateway.deps.access.allowedTools(principal('acme', [role]));
      for (const era of ['legacy', 'modern'] as const) {
        for (const [method, tool] of Object.entries(TASK_METHODS[era])) {
          const taskId = await fresh();
          const params = method === 'tasks/list' ? {} : method === 'tasks/update' ? { taskId, inputResponses: {} } : { taskId };
          const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(era === 'modern' ? { 'mcp-protocol-version': '2026-07-28', 'mcp-method': method, 'mcp-name': taskId } : {}) };
          const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: era === 'modern' ? { ...params, _meta: META } : params });
          if (method === 'tasks/result') await gateway.runQueued();
          const answer = (await (await apiGatewayFetch(gateway.handler, caller('acme', [role]))(IN_MEMORY_RESOURCE, { method: 'POST', headers, body })).json()) as {
            error?: { code: number };
          };
          const denied = answer.error?.code === -32003;
          if (denied === allowed.has(tool)) mismatches.push(`${role} ${era} ${method}: ${JSON.stringify(answer.error ?? 'answered')} while ${tool} is ${allowed.has(tool) ? 'allowed' : 'denied'}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });
});
