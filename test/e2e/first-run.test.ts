import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/constructs/switchboard-function';
import { runLocal, spawnLocal, startLocalCloudProcess, type LocalCloudProcess, type LocalProcess } from '../../bin/harness/local-cloud-process';

const VERSION = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const tempDir = (name: string) => mkdtempSync(join(tmpdir(), `switchboard-${name}-`));

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });

/** One request written byte for byte on its own connection (fetch would normalise the Host). */
const rawRequest = (port: number, requestLine: string, headers: [string, string][], body = '') =>
  new Promise<{ status: number; head: string; body: string }>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(15_000, () => socket.destroy(new Error(`no answer to ${requestLine}`)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1]);
      if (!status) reject(new Error(`no HTTP answer to ${requestLine} with ${JSON.stringify(headers)}: ${JSON.stringify(text)}`));
      else resolve({ status, head, body: rest.join('\r\n\r\n') });
    });
    const lines = [requestLine, ...headers.map(([name, value]) => `${name}: ${value}`), `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close'];
    // Not end(): a client that half-closes may get no answer from a Node server at all.
    socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
  });

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});
const MCP_HEADERS: [string, string][] = [['Content-Type', 'application/json'], ['Accept', 'application/json, text/event-stream']];
const BAD_HOSTS = ['local host', '', 'localhost:abc', '::1', '%00', 'exa<mple', 'localhost:99999', '['];

const noStackTrace = (text: string) => expect(text).not.toMatch(/^\s+at .+\(?.*:\d+:\d+\)?$/m);

describe('npm start: a bad command line is one line, not a stack trace', () => {
  it('names an unknown option, prints the usage and exits 2', async () => {
    const { code, stdout, stderr } = await runLocal(['--bogus']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    const [first, ...rest] = stderr.split('\n');
    expect(first).toMatch(/^local cloud: Unknown option '--bogus'/);
    expect(rest.join('\n')).toMatch(/^Usage: npm start -- \[--port N\]/);
    noStackTrace(stderr);
  });

  it('names a bad port', async () => {
    const { code, stderr } = await runLocal(['--port', 'abc']);
    expect(code).toBe(2);
    expect(stderr.split('\n')[0]).toBe('local cloud: --port (or PORT): not a port number: abc');
    noStackTrace(stderr);
  });

  it('names a bad log level and the good ones, in one line', async () => {
    const { code, stderr } = await runLocal(['--log-level', 'LOUD']);
    expect(code).toBe(2);
    expect(stderr).toBe('local cloud: --log-level (or LOG_LEVEL): LOUD is none of DEBUG, INFO, WARN, ERROR, SILENT\n');
  });
});

describe('npm start on a data folder, default log level', () => {
  let port: number;
  let dataDir: string;
  let local: LocalProcess;
  let token: string;
  /** What GET /, /healthz and POST /mcp answered before the endpoint line was printed. */
  const whileStarting: { landing?: Record<string, unknown>; healthz?: number; mcp?: number } = {};

  beforeAll(async () => {
    port = await freePort();
    dataDir = tempDir('first-run');
    local = spawnLocal(['--port', String(port), '--data-dir', dataDir]);
    const endpoint = local.waitFor('stdout', /Switchboard MCP endpoint: (\S+)/);
    endpoint.catch(() => undefined);
    for (let probed = false; !probed; ) {
      if (local.child.exitCode !== null) break;
      try {
        const landing = await fetch(`http://127.0.0.1:${port}/`, { headers: { accept: 'application/json' } });
        whileStarting.landing = (await landing.json()) as Record<string, unknown>;
        whileStarting.healthz = (await fetch(`http://127.0.0.1:${port}/healthz`)).status;
        whileStarting.mcp = (await fetch(`http://127.0.0.1:${port}/mcp`, { method: 'POST', body: INITIALIZE })).status;
        probed = true;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    await endpoint;
    token = (await runToken(dataDir)).trim();
  }, 120_000);
  afterAll(() => local?.stop());

  const runToken = async (dir: string) => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const tsx = join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');
    return (await promisify(execFile)(tsx, ['bin/token.ts', '--tenant', 'acme', '--data-dir', dir, '--url', `http://127.0.0.1:${port}`], { cwd: PROJECT_ROOT })).stdout;
  };

  it('answers GET / while starting (and 503 on /healthz and /mcp)', () => {
    expect(whileStarting.landing).toMatchObject({ name: 'Switchboard', version: VERSION, status: 'starting' });
    expect(whileStarting.healthz).toBe(503);
    expect(whileStarting.mcp).toBe(503);
  });

  it('serves a landing document on GET /: JSON when asked, HTML otherwise', async () => {
    const base = `http://127.0.0.1:${port}`;
    const json = await fetch(`${base}/`, { headers: { accept: 'application/json' } });
    expect(json.headers.get('content-type')).toBe('application/json');
    const document = (await json.json()) as Record<string, string>;
    expect(document).toMatchObject({
      name: 'Switchboard',
      version: VERSION,
      status: 'ready',
      mcpEndpoint: `${base}/mcp`,
      health: `${base}/healthz`,
      token: `npm run -s token -- --tenant acme --roles submitter --data-dir ${dataDir} --url ${base}`,
      oauth: { protectedResourceMetadata: `${base}/.well-known/oauth-protected-resource/mcp`, authorizationServer: `${base}/oidc` },
    });
    const html = await fetch(`${base}/`, { headers: { accept: 'text/html,*/*' } });
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await html.text();
    for (const text of [`${base}/mcp`, `${base}/healthz`, `npm run -s token -- --tenant acme --roles submitter --data-dir ${dataDir} --url ${base}`, `${base}/oidc`, 'MCP Inspector', VERSION]) {
      expect(page).toContain(text);
    }
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('prints the token command that works for its data folder, and says how long a token lasts', () => {
    expect(local.stderr()).toContain(
      `[local] get a token (valid 1 h; --ttl SECONDS for longer): npm run -s token -- --tenant acme --roles submitter --data-dir ${dataDir} --url http://127.0.0.1:${port}\n`,
    );
  });

  it('survives any Host: 401 without a token (authorizer first), 403 from the endpoint with one', async () => {
    for (const host of BAD_HOSTS) {
      const anonymous = await rawRequest(port, 'POST /mcp HTTP/1.1', [['Host', host], ...MCP_HEADERS], INITIALIZE);
      expect(anonymous.status, `Host: ${JSON.stringify(host)}`).toBe(401);
      const authorized = await rawRequest(port, 'POST /mcp HTTP/1.1', [['Host', host], ['Authorization', `Bearer ${token}`], ...MCP_HEADERS], INITIALIZE);
      expect(authorized.status, `Host: ${JSON.stringify(host)}`).toBe(403);
    }
    const good = await rawRequest(port, 'POST /mcp HTTP/1.1', [['Host', `127.0.0.1:${port}`], ['Authorization', `Bearer ${token}`], ...MCP_HEADERS], INITIALIZE);
    expect(good.status).toBe(200);
  });

  it('answers a request-target that is not a path with 400, and keeps running', async () => {
    for (const requestLine of ['POST http://[/mcp HTTP/1.1', 'OPTIONS * HTTP/1.1']) {
      const answer = await rawRequest(port, requestLine, [['Host', 'localhost'], ...MCP_HEADERS], INITIALIZE);
      expect(answer.status, requestLine).toBe(400);
      expect(JSON.parse(answer.body)).toEqual({ message: 'Bad Request: the request-target is not a path' });
    }
    const absolute = await rawRequest(port, `POST http://127.0.0.1:${port}/mcp HTTP/1.1`, [['Host', `127.0.0.1:${port}`], ...MCP_HEADERS], INITIALIZE);
    expect(absolute.status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  it('answers CONNECT (which Node does not hand to the request listener) with 405, and keeps running', async () => {
    for (const target of ['/mcp', `127.0.0.1:${port}`]) {
      const answer = await rawRequest(port, `CONNECT ${target} HTTP/1.1`, [['Host', `127.0.0.1:${port}`], ['Authorization', `Bearer ${token}`]]);
      expect([target, answer.status]).toEqual([target, 405]);
    }
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  it('takes a query parameter or header named "__proto__" as a plain name, not a 500', async () => {
    const headers: [string, string][] = [['Host', `127.0.0.1:${port}`], ['Authorization', `Bearer ${token}`], ['__proto__', 'x'], ...MCP_HEADERS];
    const answer = await rawRequest(port, 'POST /mcp?__proto__=1&constructor=2 HTTP/1.1', headers, INITIALIZE);
    expect(answer.status).toBe(200);
  });

  it('answers GET /mcp with 401 without a token and 405 with one, as docs/protocol.md says', async () => {
    const url = `http://127.0.0.1:${port}/mcp`;
    expect((await fetch(url)).status).toBe(401);
    const withToken = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(withToken.status).toBe(405);
    expect(withToken.headers.get('allow')).toBe('POST');
    const docs = readFileSync(join(PROJECT_ROOT, 'docs', 'protocol.md'), 'utf8');
    expect(docs).toMatch(/\| method other than POST \(GET, DELETE, …\) \| HTTP 405, `Allow: POST` \(with a valid token; without one, HTTP 401 first\) \|/);
  });

  it('locks its data folder: a second npm start on it is one line naming the first one, and exits 1', async () => {
    // The pid of the node process that runs bin/local.ts (tsx starts it as its child).
    const holder = Number(/^(\d+)\n$/.exec(readFileSync(join(dataDir, 'local.lock'), 'utf8'))?.[1]);
    expect(() => process.kill(holder, 0)).not.toThrow();
    const { code, stdout, stderr } = await runLocal(['--port', '0', '--data-dir', dataDir]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      `local cloud: the data folder ${dataDir} is in use by another npm start (pid ${holder}): stop that one, or start with --data-dir <another folder> or --in-memory\n`,
    );
  });

  it('a second npm start on its port is one line, and exits 1', async () => {
    const { code, stdout, stderr } = await runLocal(['--port', String(port), '--data-dir', tempDir('second')]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      `local cloud: port ${port} on 127.0.0.1 is already in use (another npm start?): stop it, or pick another port with --port N or PORT=N\n`,
    );
  });

  it('stays quiet at the default level: no metrics warning, no INFO lines, no request failures', () => {
    const output = local.stdout() + local.stderr();
    expect(output).not.toContain('No application metrics to publish');
    expect(output).not.toContain("responseMode: 'json'");
    expect(output).not.toContain('"level":"INFO"');
    expect(output).not.toContain('token rejected');
    expect(local.stdout()).toBe(`Switchboard MCP endpoint: http://127.0.0.1:${port}/mcp\n`);
  });

  it('releases the lock when it stops', async () => {
    await local.stop();
    expect(await local.exited).toBe(0);
    expect(existsSync(join(dataDir, 'local.lock'))).toBe(false);
  });
});

describe('npm start --in-memory --log-level info', () => {
  let cloud: LocalCloudProcess;

  beforeAll(async () => {
    cloud = await startLocalCloudProcess({ inMemory: true, dataDir: tempDir('in-memory'), args: ['--log-level', 'info'] });
  }, 120_000);
  afterAll(() => cloud?.stop());

  it('writes nothing to the data folder (no issuer key, no lock) and prints a token the endpoint accepts', async () => {
    expect(readdirSync(cloud.dataDir)).toEqual([]);
    expect(cloud.process.stderr()).toContain('[local] a token for tenant acme, roles submitter, valid 24 h:\nexport TOKEN=');
    const answer = await fetch(cloud.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${await cloud.token('acme')}` },
      body: INITIALIZE,
    });
    expect(answer.status).toBe(200);
  });

  it('keeps its issuer key to itself: npm run token on its data folder signs with another key', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const tsx = join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');
    const token = (await promisify(execFile)(tsx, ['bin/token.ts', '--tenant', 'acme', '--data-dir', cloud.dataDir], { cwd: PROJECT_ROOT })).stdout.trim();
    const answer = await fetch(cloud.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: INITIALIZE });
    expect(answer.status).toBe(401);
  });

  it('passes the log level to the functions: the authorizer logs the rejection at INFO', async () => {
    await fetch(cloud.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer not-a-jwt' }, body: INITIALIZE });
    const line = (await cloud.process.waitFor('stdout', /^.*"token rejected".*$/m, 5_000))[0];
    expect(JSON.parse(line)).toMatchObject({ level: 'INFO', message: 'token rejected', service: 'authorizer' });
    expect(cloud.process.stdout() + cloud.process.stderr()).not.toContain('No application metrics to publish');
  });
});
