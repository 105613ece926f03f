import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2, type FetchLike } from '@modelcontextprotocol/client';
import * as z from 'zod';
import { TASKS_EXTENSION } from '../../lambdas/contracts/mcp-tasks';

/**
 * MCP clients that follow tasks (docs/protocol.md, "MCP tasks"), for tests and benches: the v1 SDK
 * client with its task API (2025-11-25), and the v2 SDK client pinned to 2026-07-28 declaring the
 * tasks extension. The v2 client 2.4.0 has no task API and refuses a CreateTaskResult
 * (UNSUPPORTED_RESULT_TYPE): `callAsTask` reads the handle the server sent off the wire, and the
 * extension's methods go out as requests with a result schema (which the v2 client allows).
 */

const clientInfo = { name: 'switchboard-tasks', version: '1.0.0' };
const Loose = z.looseObject({});

const bearer = (token: string) => ({ requestInit: { headers: { authorization: `Bearer ${token}` } } });

/** The v1 SDK client, connected (2025-11-25): `client.experimental.tasks` is its task API. */
export const connectV1Tasks = async (url: string, token: string, fetch?: FetchLike): Promise<ClientV1> => {
  const client = new ClientV1(clientInfo);
  await client.connect(new TransportV1(new URL(url), { ...bearer(token), ...(fetch ? { fetch: fetch as never } : {}) }));
  return client;
};

/** The v2 SDK client on 2026-07-28, declaring the tasks extension unless `extension` is false. */
export const connectV2Tasks = async (url: string, token: string, options: { extension?: boolean; fetch?: FetchLike } = {}) => {
  const wire = { last: '' };
  const base: FetchLike = options.fetch ?? ((input, init) => fetch(input, init));
  const spy: FetchLike = async (input, init) => {
    const response = await base(input, init);
    wire.last = await response.clone().text();
    return response;
  };
  const client = new ClientV2(clientInfo, {
    versionNegotiation: { mode: { pin: '2026-07-28' } },
    ...(options.extension === false ? {} : { capabilities: { extensions: { [TASKS_EXTENSION]: {} } } }),
  } as never);
  await client.connect(new TransportV2(new URL(url), { ...bearer(token), fetch: spy }));

  /** tools/call answered with a task: the CreateTaskResult as it came on the wire (the client itself refuses it). */
  const callAsTask = async (name: string, args: Record<string, unknown>): Promise<Record<string, unknown> & { taskId: string }> => {
    const refused = await client.callTool({ name, arguments: args }).then(
      (result) => ({ answered: result }),
      (error: unknown) => ({ error: error as { code?: unknown } }),
    );
    if (!('error' in refused) || refused.error.code !== 'UNSUPPORTED_RESULT_TYPE') {
      throw new Error(`${name} did not answer with a task: ${JSON.stringify(refused).slice(0, 300)}`);
    }
    return (JSON.parse(wire.last) as { result: Record<string, unknown> & { taskId: string } }).result;
  };

  /** A task method's result, less the server identity every 2026 result carries in `_meta`. */
  const request = async (method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const { _meta, ...result } = (await client.request({ method, params } as never, Loose)) as Record<string, unknown>;
    const { ['io.modelcontextprotocol/serverInfo']: _server, ...meta } = (_meta ?? {}) as Record<string, unknown>;
    return Object.keys(meta).length ? { ...result, _meta: meta } : result;
  };

  /** Polls tasks/get until the task is terminal (completed, failed, cancelled). */
  const waitForTerminal = async (taskId: string, timeoutMs = 20_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const task = await request('tasks/get', { taskId });
      if (['completed', 'failed', 'cancelled'].includes(String(task['status']))) return task;
      if (Date.now() > until) throw new Error(`task ${taskId} still ${String(task['status'])} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  return { client, callAsTask, request, waitForTerminal, wire };
};

/** The JSON-RPC error code a call failed with, or 'answered' when it succeeded. */
export const rpcCodeOf = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => 'answered',
    (error: { code?: unknown }) => error.code,
  );
