import { freePort, listen, startEverything } from '../../bin/harness/server-everything';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fromJsonSchema, McpServer, WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { FileSecretStore } from '../../lambdas/adapters/secrets';
import { DownstreamRequestError, DownstreamToolError, DownstreamUnavailableError, connectMcpServer } from '../../lambdas/agents/mcp-server-connector';
import type { McpServerConnectorConfigInput } from '../../lambdas/contracts/connectors-mcp';
import type { Agent, AgentContext } from '../../lambdas/domain/ports';

/**
 * Downstream MCP servers as agents, against real servers on loopback ports:
 * - `@modelcontextprotocol/server-everything` (the reference server, v1 SDK, stateful sessions),
 *   run from node_modules as `dist/index.js streamableHttp` with `PORT`;
 * - a small stateless server built here with the repo's v2 server package, which records the
 *   headers it receives and has the tools the reference server lacks (one with an unusable
 *   schema, one that reports failure);
 * - a server that accepts connections and never answers, and a closed port.
 */

const context: AgentContext = { tenantId: 'acme', taskId: `tsk_${'a'.repeat(26)}`, attempt: 1 };
const noSecrets = { get: async (name: string): Promise<string> => Promise.reject(new Error(`no secret ${name} expected`)) };

const agentOf = (agents: Agent[], capability: string): Agent => {
  const agent = agents.find((a) => a.capability === capability);
  if (!agent) throw new Error(`no agent ${capability}; have ${agents.map((a) => a.capability).join(', ')}`);
  return agent;
};

// --- a custom downstream with the v2 server package -------------------------------------------

const toWebRequest = async (req: IncomingMessage): Promise<Request> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, one);
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  return new Request(`http://${req.headers.host}${req.url}`, { method: req.method, headers, ...(hasBody ? { body: Buffer.concat(chunks) } : {}) });
};

const sendWebResponse = async (res: ServerResponse, response: Response) => {
  response.headers.forEach((value, name) => res.setHeader(name, value));
  res.writeHead(response.status);
  res.end(Buffer.from(await response.arrayBuffer()));
};

const LONG_TOOL_NAME = `look_up_${'x'.repeat(70)}`;

const customServer = () => {
  const server = new McpServer({ name: 'custom', version: '1.0.0' }, { capabilities: { tools: { listChanged: false } } });
  server.registerTool('whoAmI', { description: 'Says which credentials reached the server.', inputSchema: z.object({}) }, async (_args, ctx) => ({
    content: [{ type: 'text', text: 'see structuredContent' }],
    structuredContent: { sawCredentials: Boolean(ctx.http?.req?.headers.get('x-api-key') ?? ctx.http?.req?.headers.get('authorization')) },
  }));
  server.registerTool('fail', { description: 'Always reports a failure.', inputSchema: z.object({}) }, async () => ({
    content: [{ type: 'text', text: 'the customer\nrecord is locked' }],
    isError: true,
  }));
  // Valid JSON Schema that zod cannot express (a conditional): the connector must disable it, not break.
  server.registerTool(
    'conditional',
    {
      description: 'A tool whose schema uses if/then.',
      inputSchema: fromJsonSchema({ type: 'object', properties: { kind: { type: 'string' } }, if: { properties: { kind: { const: 'a' } } }, then: { required: ['a'] } }),
    },
    async () => ({ content: [] }),
  );
  server.registerTool(LONG_TOOL_NAME, { description: 'A name too long to map.', inputSchema: z.object({}) }, async () => ({ content: [] }));
  return server;
};

/** A stateless v2 server that records the headers of every request it gets. */
const startCustom = async () => {
  const seen: Headers[] = [];
  const http = createServer((req, res) => {
    void (async () => {
      const request = await toWebRequest(req);
      seen.push(request.headers);
      const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      const server = customServer();
      try {
        await server.connect(transport);
        await sendWebResponse(res, await transport.handleRequest(request));
      } finally {
        await server.close().catch(() => undefined);
      }
    })().catch((error: unknown) => {
      res.writeHead(500).end(String(error));
    });
  });
  const port = await listen(http);
  return { url: `http://127.0.0.1:${port}/mcp`, http, seen };
};

/** Accepts connections and never answers. */
const startSilent = async () => {
  const http = createServer(() => undefined);
  const port = await listen(http);
  return { url: `http://127.0.0.1:${port}/mcp`, http };
};

const abortAfter = (ms: number, reason: Error) => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(reason), ms);
  return controller.signal;
};

const closeServer = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

// ----------------------------------------------------------------------------------------------

let everything: { url: string; child: ChildProcess };
let custom: Awaited<ReturnType<typeof startCustom>>;
let silent: Awaited<ReturnType<typeof startSilent>>;
let secretsDir: string;

beforeAll(async () => {
  [everything, custom, silent] = await Promise.all([startEverything(), startCustom(), startSilent()]);
  secretsDir = mkdtempSync(join(tmpdir(), 'connector-secrets-'));
});

afterAll(async () => {
  everything?.child.kill();
  await Promise.all([custom && closeServer(custom.http), silent && closeServer(silent.http)]);
  if (secretsDir) rmSync(secretsDir, { recursive: true, force: true });
});

describe('server-everything as agents', () => {
  let connection: Awaited<ReturnType<typeof connectMcpServer>>;
  beforeAll(async () => {
    connection = await connectMcpServer({ name: 'everything', url: everything.url }, { secrets: noSecrets });
  });

  it('offers its tools as everything.<tool>', () => {
    const capabilities = connection.agents.map((a) => a.capability);

    expect(capabilities).toEqual(expect.arrayContaining(['everything.echo', 'everything.get-sum', 'everything.get-structured-content']));
    for (const capability of capabilities) expect(capability).toMatch(/^everything\.[a-z][a-z0-9_.-]*$/);
    expect(agentOf(connection.agents, 'everything.echo').description).toBe('Echoes back the input string');
  });

  it('disables a tool that must be called as an MCP task, with the reason', () => {
    expect(connection.disabled).toContainEqual({
      capability: 'everything.simulate-research-query',
      reason: 'tool "simulate-research-query": it must be called as an MCP task, which this connector does not do',
    });
  });

  it('calls everything.echo end to end and returns its content', async () => {
    const output = await agentOf(connection.agents, 'everything.echo').run({ message: 'hello' }, context);

    expect(output).toEqual([{ type: 'text', text: 'Echo: hello' }]);
  });

  it('returns structuredContent when the tool gives it', async () => {
    const output = await agentOf(connection.agents, 'everything.get-structured-content').run({ location: 'Chicago' }, context);

    expect(output).toMatchObject({ temperature: expect.any(Number), conditions: expect.any(String) });
  });

  it('refuses a bad input with the schema derived from the tool', async () => {
    const echo = agentOf(connection.agents, 'everything.echo');

    expect(echo.input!.safeParse({ message: 42 }).success).toBe(false);
    expect(echo.input!.safeParse({}).success).toBe(false);
    await expect(echo.run({ message: 42 }, context)).rejects.toBeInstanceOf(z.ZodError);
  });

  it('offers only the allow-listed tools', async () => {
    const { agents, disabled } = await connectMcpServer({ name: 'everything', url: everything.url, tools: ['echo', 'get-sum', 'no-such-tool'] }, { secrets: noSecrets });

    expect(agents.map((a) => a.capability).sort()).toEqual(['everything.echo', 'everything.get-sum']);
    expect(disabled).toEqual([{ capability: 'everything.no-such-tool', reason: 'tool "no-such-tool" is allow-listed but the server does not offer it' }]);
  });
});

describe('a custom downstream', () => {
  it("sends the platform's secret from the store in the configured header, read at each call", async () => {
    const file = join(secretsDir, 'secrets.json');
    writeFileSync(file, JSON.stringify({ 'custom-key': 'key-1' }));
    const secrets = new FileSecretStore(file);
    const { agents } = await connectMcpServer(
      { name: 'custom', url: custom.url, secret: { name: 'custom-key', header: 'x-api-key' }, tools: ['whoAmI'] },
      { secrets },
    );
    const whoAmI = agentOf(agents, 'custom.who_am_i');
    custom.seen.length = 0;

    expect(await whoAmI.run({}, context)).toEqual({ sawCredentials: true });
    expect(new Set(custom.seen.map((h) => h.get('x-api-key')))).toEqual(new Set(['key-1']));

    writeFileSync(file, JSON.stringify({ 'custom-key': 'key-2' }));
    custom.seen.length = 0;
    await whoAmI.run({}, context);
    expect(new Set(custom.seen.map((h) => h.get('x-api-key')))).toEqual(new Set(['key-2']));
  });

  it('puts the scheme before the value in the authorization header by default', async () => {
    const file = join(secretsDir, 'bearer.json');
    writeFileSync(file, JSON.stringify({ 'custom-token': 'tok-1' }));
    custom.seen.length = 0;

    await connectMcpServer({ name: 'custom', url: custom.url, secret: { name: 'custom-token', scheme: 'Bearer' } }, { secrets: new FileSecretStore(file) });

    expect(custom.seen.length).toBeGreaterThan(0);
    for (const headers of custom.seen) expect(headers.get('authorization')).toBe('Bearer tok-1');
  });

  it('disables a tool whose inputSchema zod cannot use, and one whose name cannot be mapped, with reasons', async () => {
    const { agents, disabled } = await connectMcpServer({ name: 'custom', url: custom.url }, { secrets: noSecrets });

    expect(agents.map((a) => a.capability).sort()).toEqual(['custom.fail', 'custom.who_am_i']);
    expect(disabled).toContainEqual({ capability: 'custom.conditional', reason: expect.stringMatching(/^tool "conditional": its inputSchema cannot be used: .*if\/then/) });
    expect(disabled).toContainEqual({ capability: `custom.${LONG_TOOL_NAME}`, reason: expect.stringContaining('does not map to a capability name') });
  });

  it('turns a tool result with isError into an error carrying its text on one line', async () => {
    const { agents } = await connectMcpServer({ name: 'custom', url: custom.url, tools: ['fail'] }, { secrets: noSecrets });

    const run = agentOf(agents, 'custom.fail').run({}, context);

    await expect(run).rejects.toBeInstanceOf(DownstreamToolError);
    await expect(run).rejects.toThrow('downstream tool custom.fail failed: the customer record is locked');
  });

  it('fails discovery with SecretNotFoundError when the secret is missing, before calling the server', async () => {
    custom.seen.length = 0;

    const connecting = connectMcpServer({ name: 'custom', url: custom.url, secret: { name: 'absent' } }, { secrets: new FileSecretStore(join(secretsDir, 'none.json')) });

    await expect(connecting).rejects.toThrow('secret "absent" not found');
    expect(custom.seen).toHaveLength(0);
  });
});

describe('a downstream that is down or slow', () => {
  it('fails discovery against a closed port at once, with a clear message', async () => {
    const url = `http://127.0.0.1:${await freePort()}/mcp`;

    const connecting = connectMcpServer({ name: 'crm', url, timeoutMs: 2_000 }, { secrets: noSecrets });

    await expect(connecting).rejects.toBeInstanceOf(DownstreamUnavailableError);
    await expect(connecting).rejects.toThrow(`downstream MCP server crm (${url}) did not answer: connection refused (ECONNREFUSED)`);
  });

  it.each([
    [503, DownstreamUnavailableError, 'did not answer: HTTP 503'],
    [401, DownstreamRequestError, "refused initialize: HTTP 401, the platform's credentials were not accepted"],
  ])('tells a server answering HTTP %i (%o) from one that does not answer', async (status, type, ending) => {
    const http = createServer((_req, res) => res.writeHead(status, { 'content-type': 'text/plain' }).end('no'));
    const url = `http://127.0.0.1:${await listen(http)}/mcp`;

    const error = await connectMcpServer({ name: 'crm', url, timeoutMs: 2_000 }, { secrets: noSecrets }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toBe(`downstream MCP server crm (${url}) ${ending}`);
    await closeServer(http);
  });

  it('fails discovery against a server that never answers within timeoutMs', async () => {
    const started = Date.now();

    const error = await connectMcpServer({ name: 'crm', url: silent.url, timeoutMs: 500 }, { secrets: noSecrets }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DownstreamUnavailableError);
    expect((error as Error).message).toBe(`downstream MCP server crm (${silent.url}) did not answer: no answer within 500 ms`);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('fails a run the same way when the server went down after discovery', async () => {
    const http = createServer((req, res) => custom.http.emit('request', req, res));
    const port = await listen(http);
    const url = `http://127.0.0.1:${port}/mcp`;
    const { agents } = await connectMcpServer({ name: 'crm', url, timeoutMs: 2_000, tools: ['whoAmI'] }, { secrets: noSecrets });
    await closeServer(http);

    const run = agentOf(agents, 'crm.who_am_i').run({}, context);

    // A pooled keep-alive socket the server closed gives UND_ERR_SOCKET; a new connection, ECONNREFUSED.
    await expect(run).rejects.toBeInstanceOf(DownstreamUnavailableError);
    const message = ((await run.catch((e: unknown) => e)) as Error).message;
    expect([`${url}) did not answer: connection refused (ECONNREFUSED)`, `${url}) did not answer: connection closed (UND_ERR_SOCKET)`]).toContain(message.replace('downstream MCP server crm (', ''));
  });

  it('fails a run against a server that stopped answering within timeoutMs', async () => {
    let answering = true;
    const http = createServer((req, res) => {
      if (answering) custom.http.emit('request', req, res);
    });
    const port = await listen(http);
    const url = `http://127.0.0.1:${port}/mcp`;
    const { agents } = await connectMcpServer({ name: 'crm', url, timeoutMs: 500, tools: ['whoAmI'] }, { secrets: noSecrets });
    answering = false;
    const started = Date.now();

    const error = await agentOf(agents, 'crm.who_am_i').run({}, context).catch((e: unknown) => e);

    expect((error as Error).message).toBe(`downstream MCP server crm (${url}) did not answer: no answer within 500 ms`);
    expect(Date.now() - started).toBeLessThan(1_500);
    await closeServer(http);
  });

  it("stops a hanging run when the task's signal aborts, with the signal's reason", async () => {
    let answering = true;
    const http = createServer((req, res) => {
      if (answering) custom.http.emit('request', req, res);
    });
    const port = await listen(http);
    const { agents } = await connectMcpServer({ name: 'crm', url: `http://127.0.0.1:${port}/mcp`, timeoutMs: 10_000, tools: ['whoAmI'] }, { secrets: noSecrets });
    answering = false;
    const reason = new Error('task cancelled');
    const started = Date.now();

    const cancelled = agentOf(agents, 'crm.who_am_i').run({}, { ...context, signal: abortAfter(100, reason) });

    await expect(cancelled).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(1_000);
    await closeServer(http);
  });
});
