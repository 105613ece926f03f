import { connect } from 'node:net';

/** One HTTP/1.1 request exactly as given: no normalisation of the method, target or header bytes. */
export interface RawRequest {
  method: string;
  /** The request-target as it goes on the request line (`/mcp`, `*`, `http://host/mcp`, ...). */
  target: string;
  /** Name/value pairs in order; a name may repeat. Written as latin1, byte for byte. */
  headers: [string, string][];
  body?: string | Buffer;
}

export interface RawResponse {
  status: number;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
  /** Everything the server sent, for failure reports. */
  raw: string;
}

/** The server closed or reset the connection without a complete status line, or did not answer in time. */
export class NoResponseError extends Error {
  constructor(
    message: string,
    /**
     * The connection was reset while a large body (over 64 KiB) was still on its way. A server that
     * refuses a request on its head alone (400, 431, ...) and closes with the body unread makes
     * the kernel reset the connection, and the reset can discard the answer it had sent.
     */
    readonly resetDuringLargeBody = false,
  ) {
    super(message);
  }
}

const decodeChunked = (data: Buffer): Buffer => {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1').split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
};

/**
 * Sends one request on a fresh TCP connection with `Connection: close` semantics (the caller's
 * headers are written as they are; the server closes after answering) and reads the whole answer.
 * `Content-Length` is added only when `contentLength` is not false and the headers carry none.
 */
export const rawHttp = (
  port: number,
  request: RawRequest,
  options: { host?: string; timeoutMs?: number; contentLength?: boolean } = {},
): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    const body = typeof request.body === 'string' ? Buffer.from(request.body, 'utf8') : (request.body ?? Buffer.alloc(0));
    const headers = [...request.headers];
    const has = (name: string) => headers.some(([n]) => n.toLowerCase() === name);
    if (options.contentLength !== false && !has('content-length') && !has('transfer-encoding') && (body.length > 0 || request.method === 'POST')) {
      headers.push(['Content-Length', String(body.length)]);
    }
    if (!has('connection')) headers.push(['Connection', 'close']);
    const head = `${request.method} ${request.target} HTTP/1.1\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;

    const chunks: Buffer[] = [];
    let settled = false;
    const socket = connect({ port, host: options.host ?? '127.0.0.1' });
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      let data = Buffer.concat(chunks);
      // Interim answers (100 Continue, ...) come before the real one.
      while (/^HTTP\/1\.[01] 1\d\d /.test(data.subarray(0, 13).toString('latin1')) && data.indexOf('\r\n\r\n') >= 0) {
        data = data.subarray(data.indexOf('\r\n\r\n') + 4);
      }
      const split = data.indexOf('\r\n\r\n');
      const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(data.subarray(0, Math.max(split, 0)).toString('latin1'));
      if (split < 0 || !statusLine) {
        const reset = ['EPIPE', 'ECONNRESET'].includes((error as NodeJS.ErrnoException | undefined)?.code ?? '');
        return reject(
          new NoResponseError(
            `no HTTP answer (${error?.message ?? 'connection closed'}); got ${JSON.stringify(data.toString('latin1').slice(0, 200))}`,
            reset && body.length > 64 * 1024,
          ),
        );
      }
      const lines = data.subarray(0, split).toString('latin1').split('\r\n').slice(1);
      const responseHeaders: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        responseHeaders[name] = name in responseHeaders ? `${responseHeaders[name]}, ${value}` : value;
      }
      const status = Number(statusLine[1]);
      let payload: Buffer = data.subarray(split + 4);
      // HEAD answers, 204 and 304 carry no body whatever their Content-Length says.
      if (request.method === 'HEAD' || status === 204 || status === 304) payload = Buffer.alloc(0);
      else if (/chunked/i.test(responseHeaders['transfer-encoding'] ?? '')) payload = decodeChunked(payload);
      else if (responseHeaders['content-length'] !== undefined) {
        const length = Number(responseHeaders['content-length']);
        if (payload.length < length) {
          return reject(new NoResponseError(`answer cut short: ${payload.length} of ${length} body bytes (${error?.message ?? 'connection closed'})`));
        }
        payload = payload.subarray(0, length);
      }
      resolve({ status, headers: responseHeaders, body: payload.toString('utf8'), raw: data.toString('latin1') });
    };
    const timer = setTimeout(() => finish(new Error(`no answer in ${options.timeoutMs ?? 10_000} ms`)), options.timeoutMs ?? 10_000);
    // Done once the answer is complete, even if the server keeps the connection open.
    const complete = (): boolean => {
      const data = Buffer.concat(chunks);
      const split = data.indexOf('\r\n\r\n');
      if (split < 0) return false;
      const head = data.subarray(0, split).toString('latin1');
      if (/^HTTP\/1\.[01] 1\d\d /.test(head)) return false;
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (request.method === 'HEAD' || /^HTTP\/1\.[01] (204|304) /.test(head)) return true;
      if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) return data.subarray(split + 4).includes('\r\n0\r\n\r\n') || data.subarray(split + 4).indexOf('0\r\n\r\n') === 0;
      return length !== null && data.length - split - 4 >= Number(length[1]);
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (complete()) finish();
    });
    socket.on('end', () => finish());
    socket.on('close', () => finish());
    // A server may answer (400, 413, ...) and reset before reading the whole body: keep what it sent.
    socket.on('error', (error) => finish(error));
    socket.on('connect', () => {
      socket.write(Buffer.from(head, 'latin1'));
      if (body.length) socket.write(body);
    });
  });
