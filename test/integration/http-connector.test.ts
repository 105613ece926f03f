import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { HttpStatusError, httpConnectorAgents, type HttpConnectorDeps } from '../../lambdas/agents/http-connector';
import type { HttpConnectorConfigInput } from '../../lambdas/contracts/connectors';
import { SecretNotFoundError, type SecretStore } from '../../lambdas/domain/connector-ports';
import type { Agent, Logger } from '../../lambdas/domain/ports';

const SECRET = 's3cr3t-token-4f9a';

class InMemorySecretStore implements SecretStore {
  constructor(private readonly values: Record<string, string>) {}
  async get(name: string): Promise<string> {
    const value = this.values[name];
    if (value === undefined) throw new SecretNotFoundError(`no secret ${name}`);
    return value;
  }
}

/** The ticketing API's document: three operations offered, one not, one with a schema zod cannot take. */
const ticketingApi = {
  openapi: '3.0.3',
  info: { title: 'Ticketing', version: '1.0.0' },
  paths: {
    '/tickets': {
      post: {
        operationId: 'createTicket',
        summary: 'Opens a ticket.',
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/NewTicket' } } } },
        responses: { '201': { description: 'created' } },
      },
      get: {
        operationId: 'listTickets',
        summary: 'Lists tickets.',
        parameters: [
          { name: 'status', in: 'query', schema: { type: 'string', enum: ['open', 'closed'] } },
          { name: 'tag', in: 'query', schema: { type: 'array', items: { type: 'string' } } },
        ],
        responses: { '200': { description: 'ok' } },
      },
      delete: { operationId: 'deleteAll', summary: 'Deletes every ticket.', responses: { '204': { description: 'gone' } } },
    },
    '/tickets/{id}': {
      parameters: [{ $ref: '#/components/parameters/TicketId' }],
      get: {
        operationId: 'getTicket',
        summary: 'Reads a ticket.',
        parameters: [{ name: 'X-Request-Id', in: 'header', schema: { type: 'string' } }],
        responses: { '200': { description: 'ok' } },
      },
    },
    '/broken': {
      post: {
        operationId: 'brokenOp',
        requestBody: { content: { 'application/json': { schema: { if: { type: 'string' }, then: { minLength: 2 } } } } },
        responses: { '200': { description: 'ok' } },
      },
    },
  },
  components: {
    parameters: { TicketId: { name: 'id', in: 'path', required: true, schema: { type: 'string', minLength: 1 } } },
    schemas: {
      NewTicket: {
        type: 'object',
        required: ['title'],
        additionalProperties: false,
        properties: { title: { type: 'string', minLength: 1 }, priority: { type: 'string', enum: ['low', 'high'], nullable: true } },
      },
    },
  },
};

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let port: number;
const seen: Seen[] = [];
/** The next this many requests get 503. */
let failNext = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const json = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (failNext > 0) {
        failNext -= 1;
        json(503, { error: 'try later' });
        return;
      }
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'POST' && url.pathname === '/api/tickets') json(201, { id: 't1', ...(JSON.parse(body) as object) });
      else if (req.method === 'GET' && url.pathname === '/api/tickets') json(200, { status: url.searchParams.get('status'), tags: url.searchParams.getAll('tag') });
      else if (req.method === 'GET' && url.pathname === '/api/tickets/missing') json(404, { error: 'no such ticket' });
      else if (req.method === 'GET' && url.pathname === '/api/tickets/slow') setTimeout(() => json(200, {}), 2_000).unref();
      // A careless API that echoes the credential it was sent.
      else if (req.method === 'GET' && url.pathname.startsWith('/api/tickets/')) json(200, { id: decodeURIComponent(url.pathname.slice(13)), seenAuth: req.headers.authorization });
      else json(404, { error: 'no route' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  seen.length = 0;
  failNext = 0;
});

const config = (overrides: Partial<HttpConnectorConfigInput> = {}): HttpConnectorConfigInput => ({
  name: 'tickets',
  openapi: ticketingApi,
  baseUrl: `http://127.0.0.1:${port}/api`,
  operations: ['createTicket', 'getTicket', 'listTickets', 'brokenOp', 'missingOp'],
  allowPrivateHosts: ['127.0.0.1'],
  allowHttpHosts: ['127.0.0.1'],
  secret: { name: 'tickets/api-token', scheme: 'Bearer' },
  timeoutMs: 2_000,
  ...overrides,
});

const logs: unknown[] = [];
const logger: Logger = {
  info: (...entry) => logs.push(entry),
  warn: (...entry) => logs.push(entry),
  error: (...entry) => logs.push(entry),
};
const deps = (): HttpConnectorDeps => ({ secrets: new InMemorySecretStore({ 'tickets/api-token': SECRET }), logger });
const context = { tenantId: 'acme', taskId: `tsk_${'a'.repeat(26)}`, attempt: 1 };

const build = (overrides: Partial<HttpConnectorConfigInput> = {}) => {
  const built = httpConnectorAgents(config(overrides), deps());
  const agent = (capability: string): Agent => {
    const found = built.agents.find((candidate) => candidate.capability === capability);
    if (!found) throw new Error(`no agent ${capability}`);
    return found;
  };
  return { ...built, agent };
};

describe('HTTP connector: the agents an OpenAPI document gives', () => {
  it('offers exactly the allow-listed operations, disabling the unusable and the missing with a reason', () => {
    const { agents, disabled } = build();
    expect(agents.map((agent) => agent.capability).sort()).toEqual(['tickets.createticket', 'tickets.getticket', 'tickets.listtickets']);
    expect(agents.find((agent) => agent.capability === 'tickets.createticket')?.description).toBe('Opens a ticket.');
    expect(disabled).toEqual([
      { capability: 'tickets.brokenop', reason: expect.stringMatching(/^input schema unusable: Conditional schemas/) },
      { capability: 'tickets.missingop', reason: 'operationId missingOp is not in the OpenAPI document' },
    ]);
  });

  it('refuses input outside the operation schema', async () => {
    const { agent } = build();
    const create = agent('tickets.createticket').input!;
    expect(create.safeParse({ body: { title: 'Printer on fire', priority: null } }).success).toBe(true);
    expect(create.safeParse({}).success).toBe(false);
    expect(create.safeParse({ body: { title: '' } }).success).toBe(false);
    expect(create.safeParse({ body: { title: 'x', assignee: 'root' } }).success).toBe(false);
    expect(create.safeParse({ body: { title: 'x' }, extra: 1 }).success).toBe(false);
    expect(agent('tickets.getticket').input!.safeParse({}).success).toBe(false);
    expect(agent('tickets.listtickets').input!.safeParse({ status: 'pending' }).success).toBe(false);
    await expect(agent('tickets.getticket').run({ id: 42 }, context)).rejects.toBeInstanceOf(z.ZodError);
    expect(seen).toHaveLength(0);
  });
});

describe('HTTP connector: calls', () => {
  it('sends the JSON body and the secret as a header, and returns status and parsed body', async () => {
    const result = await build().agent('tickets.createticket').run({ body: { title: 'Printer on fire' } }, context);
    expect(result).toEqual({ status: 201, body: { id: 't1', title: 'Printer on fire' } });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/api/tickets', body: '{"title":"Printer on fire"}' });
    expect(seen[0]?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(seen[0]?.headers['content-type']).toBe('application/json');
  });

  it('encodes path parameters, repeats array query parameters and sets header parameters', async () => {
    const { agent } = build();
    await agent('tickets.getticket').run({ id: 'a/b c', 'X-Request-Id': 'req-1' }, context);
    expect(seen[0]?.url).toBe('/api/tickets/a%2Fb%20c');
    expect(seen[0]?.headers['x-request-id']).toBe('req-1');
    const listed = await agent('tickets.listtickets').run({ status: 'open', tag: ['a', 'b'] }, context);
    expect(seen[1]?.url).toBe('/api/tickets?status=open&tag=a&tag=b');
    expect(listed).toEqual({ status: 200, body: { status: 'open', tags: ['a', 'b'] } });
    await expect(agent('tickets.getticket').run({ id: '..' }, context)).rejects.toThrow('path parameter id may not be ".."');
  });

  it('keeps the secret out of the result and the logs, even when the API echoes it', async () => {
    failNext = 1;
    const result = await build().agent('tickets.getticket').run({ id: 't1' }, context);
    expect(seen.map((request) => request.headers.authorization)).toEqual([`Bearer ${SECRET}`, `Bearer ${SECRET}`]);
    expect(result).toEqual({ status: 200, body: { id: 't1', seenAuth: 'Bearer [redacted]' } });
    expect(logs.length).toBeGreaterThan(0);
    expect(JSON.stringify(logs)).not.toContain(SECRET);
  });

  it('retries a GET on 503, then succeeds', async () => {
    failNext = 2;
    const result = await build().agent('tickets.getticket').run({ id: 't7' }, context);
    expect(result).toMatchObject({ status: 200, body: { id: 't7' } });
    expect(seen).toHaveLength(3);
  });

  it('gives up on a GET after `retries` further attempts', async () => {
    failNext = 5;
    await expect(build({ retries: 1 }).agent('tickets.getticket').run({ id: 't7' }, context)).rejects.toThrow('tickets.getticket: HTTP 503: {"error":"try later"}');
    expect(seen).toHaveLength(2);
  });

  it('does not retry a POST', async () => {
    failNext = 1;
    const error = await build()
      .agent('tickets.createticket')
      .run({ body: { title: 'once' } }, context)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HttpStatusError);
    expect((error as HttpStatusError).status).toBe(503);
    expect(seen).toHaveLength(1);
  });

  it('fails on a non-2xx status with the status and a short excerpt, without the secret', async () => {
    const error = await build()
      .agent('tickets.getticket')
      .run({ id: 'missing' }, context)
      .catch((caught: unknown) => caught);
    expect((error as Error).message).toBe('tickets.getticket: HTTP 404: {"error":"no such ticket"}');
  });

  it("stops when the task's signal aborts", async () => {
    const controller = new AbortController();
    const running = build().agent('tickets.getticket').run({ id: 'slow' }, { ...context, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('cancelled')), 50);
    await expect(running).rejects.toThrow('cancelled');
  });

  it('calls through the safe fetch: a loopback API not in allowPrivateHosts is refused, nothing sent', async () => {
    const { agent } = build({ allowPrivateHosts: [] });
    await expect(agent('tickets.getticket').run({ id: 't1' }, context)).rejects.toThrow(`refused: 127.0.0.1 is a loopback address`);
    expect(seen).toHaveLength(0);
  });

  it('fails fast on a config that names an allow-list entry outside allowHosts', () => {
    expect(() => build({ allowHosts: ['api.example.com'] })).toThrow(/allowHosts must include the baseUrl's host 127\.0\.0\.1/);
  });
});
