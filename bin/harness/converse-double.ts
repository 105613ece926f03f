import { randomUUID } from 'node:crypto';
import { createServer as createHttp1Server } from 'node:http';
import { createServer as createHttp2Server } from 'node:http2';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A local stand-in for Amazon Bedrock's Converse API (`POST /model/{modelId}/converse`), on the
 * wire as the service answers, so the real `@aws-sdk/client-bedrock-runtime` client works against
 * it with `endpoint` set to `endpoint` and any credentials (it does not check signatures). It
 * speaks HTTP/2 without TLS (that client's default handler is HTTP/2) and HTTP/1.1 (curl, fetch)
 * on the same port, told apart by the connection's first bytes.
 * Replies are deterministic: by default `summary of: <first 80 chars of the prompt>`, tokens
 * counted as words. Errors come as the service sends them (status, `x-amzn-ErrorType`,
 * `{ message }`), so the SDK raises its own exception classes.
 */

/** The JSON body of a Converse request, as sent. */
export interface ConverseDoubleBody {
  messages: { role: string; content: { text?: string }[] }[];
  system?: { text?: string }[];
  inferenceConfig?: { maxTokens?: number; temperature?: number; topP?: number; stopSequences?: string[] };
  [field: string]: unknown;
}

/** A request as the double received it: the JSON body, and the model id from the path. */
export type ConverseDoubleRequest = ConverseDoubleBody & { modelId: string };

export interface ConverseDoubleReply {
  text: string;
  /** Absent: the words of the system prompt and the messages. */
  inputTokens?: number;
  /** Absent: the words of `text`. */
  outputTokens?: number;
}

/** A service error the double can answer with, and its status. */
export const CONVERSE_ERRORS = {
  ThrottlingException: { status: 429, message: 'Too many requests, please wait before trying again.' },
  ServiceQuotaExceededException: { status: 429, message: 'Too many tokens, please wait before trying again.' },
  ModelTimeoutException: { status: 408, message: 'Model has timed out in processing the request.' },
  ModelNotReadyException: { status: 429, message: 'Model is not ready to serve inference requests.' },
  ServiceUnavailableException: { status: 503, message: 'Service is unavailable.' },
  InternalServerException: { status: 500, message: 'The server encountered an internal error.' },
  ValidationException: { status: 400, message: 'The provided request is not valid.' },
  AccessDeniedException: { status: 403, message: "You don't have access to the model with the specified model ID." },
  ResourceNotFoundException: { status: 404, message: 'The provided model identifier is invalid.' },
} as const;
export type ConverseErrorName = keyof typeof CONVERSE_ERRORS;

export interface ConverseDoubleOptions {
  /** The model's answer to a request; default deterministic (see above). */
  reply?: (request: ConverseDoubleRequest) => ConverseDoubleReply;
  /** Answer the first `failFirst` requests with `failWith` (default ThrottlingException). */
  failFirst?: number;
  failWith?: ConverseErrorName;
  /** Wait this long before answering (a slow model); a client that hangs up ends the wait. */
  delayMs?: number;
}

export interface ConverseDouble {
  /** Pass as the client's `endpoint`. */
  endpoint: string;
  /** Every well-formed request received, failed ones included, in order. */
  requests: ConverseDoubleRequest[];
  stop(): Promise<void>;
}

const words = (text: string): number => text.split(/\s+/).filter(Boolean).length;
const textOf = (blocks: readonly { text?: string }[] | undefined): string => (blocks ?? []).flatMap((block) => (block.text !== undefined ? [block.text] : [])).join('\n');

/** The prompt: the text of the last user message. */
export const promptOf = (request: ConverseDoubleRequest): string => textOf([...request.messages].reverse().find((message) => message.role === 'user')?.content);

export const defaultConverseReply = (request: ConverseDoubleRequest): ConverseDoubleReply => ({ text: `summary of: ${promptOf(request).slice(0, 80)}` });

const CONVERSE_PATH = /^\/model\/([^/]+)\/converse$/;

/** One exchange, whichever HTTP version carried it. */
interface Exchange {
  method: string;
  url: string;
  body(): Promise<string>;
  send(status: number, body: unknown, headers?: Record<string, string>): void;
  /** Resolves true if the client hangs up before `ms` pass, false after them. */
  hangsUpWithin(ms: number): Promise<boolean>;
}

/** What node:http and node:http2's compatibility API share of a request and its response. */
interface RequestLike extends AsyncIterable<unknown> {
  method?: string;
  url?: string;
}
interface ResponseLike {
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  end(payload: string): unknown;
  once(event: 'close', listener: () => void): unknown;
}

const exchangeOf = (req: RequestLike, res: ResponseLike): Exchange => ({
  method: req.method ?? 'GET',
  url: req.url ?? '/',
  body: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  send: (status, body, headers = {}) => {
    const payload = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'x-amzn-requestid': randomUUID(), ...headers });
    res.end(payload);
  },
  hangsUpWithin: (ms) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      res.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    }),
});

const sendError = (exchange: Exchange, name: ConverseErrorName, message: string = CONVERSE_ERRORS[name].message): void =>
  // The service suffixes the type with its namespace; the SDK strips it.
  exchange.send(CONVERSE_ERRORS[name].status, { message }, { 'x-amzn-errortype': `${name}:http://internal.amazon.com/coral/com.amazon.bedrock/` });

/** The body's shape as the service checks it (messages non-empty, each with a role and content blocks). */
const problemOf = (body: unknown): string | undefined => {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'The request body must be a JSON object.';
  const { messages, inferenceConfig } = body as Record<string, unknown>;
  if (!Array.isArray(messages) || messages.length === 0) return 'A conversation must start with a user message.';
  for (const message of messages as unknown[]) {
    const { role, content } = (message ?? {}) as Record<string, unknown>;
    if (role !== 'user' && role !== 'assistant') return `Invalid message role: ${String(role)}.`;
    if (!Array.isArray(content) || content.length === 0) return 'A message must have at least one content block.';
  }
  const maxTokens = (inferenceConfig as Record<string, unknown> | undefined)?.maxTokens;
  if (maxTokens !== undefined && (typeof maxTokens !== 'number' || maxTokens < 1)) return 'inferenceConfig.maxTokens must be at least 1.';
  return undefined;
};

export const startConverseDouble = async (options: ConverseDoubleOptions = {}): Promise<ConverseDouble> => {
  const requests: ConverseDoubleRequest[] = [];
  const reply = options.reply ?? defaultConverseReply;

  const handle = async (exchange: Exchange): Promise<void> => {
    const path = CONVERSE_PATH.exec(new URL(exchange.url, 'http://double').pathname);
    if (exchange.method !== 'POST' || !path) {
      exchange.send(404, { message: `${exchange.method} ${exchange.url} is not an operation of this double` }, { 'x-amzn-errortype': 'UnknownOperationException' });
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(await exchange.body());
    } catch {
      sendError(exchange, 'ValidationException', 'The request body is not valid JSON.');
      return;
    }
    const problem = problemOf(body);
    if (problem) {
      sendError(exchange, 'ValidationException', problem);
      return;
    }
    const request: ConverseDoubleRequest = { ...(body as ConverseDoubleBody), modelId: decodeURIComponent(path[1]!) };
    requests.push(request);

    if (requests.length <= (options.failFirst ?? 0)) {
      sendError(exchange, options.failWith ?? 'ThrottlingException');
      return;
    }
    const started = Date.now();
    if (options.delayMs && (await exchange.hangsUpWithin(options.delayMs))) return;
    const answer = reply(request);
    const inputTokens = answer.inputTokens ?? words(`${textOf(request.system)} ${request.messages.map((message) => textOf(message.content)).join(' ')}`);
    const outputTokens = answer.outputTokens ?? words(answer.text);
    exchange.send(200, {
      output: { message: { role: 'assistant', content: [{ text: answer.text }] } },
      stopReason: 'end_turn',
      usage: { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens },
      metrics: { latencyMs: Date.now() - started },
    });
  };
  const serve = (req: RequestLike, res: ResponseLike & { headersSent: boolean }): void => {
    const exchange = exchangeOf(req, res);
    handle(exchange).catch((error: unknown) => {
      if (!res.headersSent) sendError(exchange, 'InternalServerException', error instanceof Error ? error.message : String(error));
    });
  };

  // One port, both protocols: a connection opening with the HTTP/2 preface ("PRI * HTTP/2.0") goes
  // to the HTTP/2 server, any other to the HTTP/1.1 one, its first bytes put back for it to read.
  const http1 = createHttp1Server(serve);
  const http2 = createHttp2Server(serve);
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      (chunk.subarray(0, 3).toString('latin1') === 'PRI' ? http2 : http1).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        http1.close();
        http2.close();
      }),
  };
};
