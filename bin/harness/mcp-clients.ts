import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2, type FetchLike } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export type Era = '2025-11-25' | '2026-07-28';

/** A tools-only view of a connected client, whatever its SDK. */
export interface ToolClient {
  listTools(): Promise<{ tools: { name: string; inputSchema: unknown }[] }>;
  callTool(name: string, args: Record<string, unknown>): Promise<{ isError?: boolean; structuredContent?: unknown; content?: unknown; _meta?: Record<string, unknown> }>;
  close(): Promise<void>;
}

const clientInfo = { name: 'switchboard-tests', version: '1.0.0' };

/** The v2 SDK client (`@modelcontextprotocol/client`) pinned to one era. */
export const connectV2 = async (url: string, token: string, era: Era, fetch?: FetchLike): Promise<ToolClient> => {
  const client = new ClientV2(clientInfo, {
    versionNegotiation: { mode: era === '2026-07-28' ? { pin: '2026-07-28' } : 'legacy' },
  });
  const transport = new TransportV2(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } }, ...(fetch ? { fetch } : {}) });
  await client.connect(transport);
  return {
    listTools: () => client.listTools() as ReturnType<ToolClient['listTools']>,
    callTool: (name, args) => client.callTool({ name, arguments: args }) as ReturnType<ToolClient['callTool']>,
    close: () => client.close(),
  };
};

/** The v1 SDK client (`@modelcontextprotocol/sdk`), which speaks 2025-11-25. */
export const connectV1 = async (url: string, token: string, fetch?: FetchLike): Promise<ToolClient> => {
  const client = new ClientV1(clientInfo);
  const transport = new TransportV1(new URL(url), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
    ...(fetch ? { fetch: fetch as never } : {}),
  });
  await client.connect(transport);
  return {
    listTools: () => client.listTools() as ReturnType<ToolClient['listTools']>,
    callTool: (name, args) => client.callTool({ name, arguments: args }) as ReturnType<ToolClient['callTool']>,
    close: () => client.close(),
  };
};

/** Polls get_task until the task reaches a terminal status. */
export const waitForTerminal = (client: ToolClient, taskId: string, timeoutMs = 20_000) =>
  waitForStatus(client, taskId, ['succeeded', 'failed', 'cancelled'], timeoutMs);

/** Polls get_task until the task's status is one of `statuses`; the task view (structuredContent). */
export const waitForStatus = async (client: ToolClient, taskId: string, statuses: readonly string[], timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await client.callTool('get_task', { taskId });
    const task = result.structuredContent as { status: string; result?: unknown; error?: { code: string; message: string }; [key: string]: unknown };
    if (statuses.includes(task.status)) return task;
    if (Date.now() > deadline) throw new Error(`task ${taskId} still ${task.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
};
