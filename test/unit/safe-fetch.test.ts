import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { LookupAddress } from 'node:dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSafeFetch,
  OutboundRefusedError,
  OutboundResponseTooLargeError,
  OutboundTimeoutError,
  refusalOf,
  type SafeFetchPolicy,
} from '../../lambdas/adapters/outbound/safe-fetch';

/** A server on 127.0.0.1 that counts connections: reachable from the tests only if a check failed. */
const listen = async (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
  const server = createServer(handler);
  const counter = { connections: 0 };
  server.on('connection', () => {
    counter.connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, counter, port: (server.address() as { port: number }).port };
};

const close = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

/** Test names resolve through this map; the system resolver is never asked for them. */
const names: Record<string, LookupAddress[]> = {
  'local.test': [{ address: '127.0.0.1', family: 4 }],
  'local2.test': [{ address: '127.0.0.1', family: 4 }],
  'evil.test': [{ address: '127.0.0.1', family: 4 }],
  'metadata.example': [{ address: '169.254.169.254', family: 4 }],
  'imds.test': [{ address: '169.254.169.254', family: 4 }],
  'mixed.test': [
    { address: '93.184.216.34', family: 4 },
    { address: '10.0.0.7', family: 4 },
  ],
  'mapped.test': [{ address: '::ffff:127.0.0.1', family: 6 }],
};
const resolveCalls: string[] = [];
const resolve = async (hostname: string): Promise<LookupAddress[]> => {
  resolveCalls.push(hostname);
  const found = names[hostname];
  if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return found;
};

/** Hosts the refusal cases target; all allowed by name and over http, so the address check is what refuses. */
const TARGET_HOSTS = [
  '127.0.0.1',
  'localhost',
  '::1',
  '169.254.169.254',
  '10.1.2.3',
  '172.16.0.1',
  '192.168.1.1',
  '100.64.0.1',
  '0.0.0.0',
  '224.0.0.1',
  '255.255.255.255',
  '::ffff:127.0.0.1',
  'fe80::1',
  'fd00:ec2::254',
  'fc00::1',
  '64:ff9b::7f00:1',
  '2002:a9fe:a9fe::',
  '::7f00:1',
  'evil.test',
  'metadata.example',
  'mixed.test',
  'mapped.test',
];

let target: Awaited<ReturnType<typeof listen>>;
let redirector: Awaited<ReturnType<typeof listen>>;
let app: Awaited<ReturnType<typeof listen>>;
const seenHeaders: Record<string, string | undefined>[] = [];

beforeAll(async () => {
  target = await listen((_req, res) => res.end('you should not see this'));
  redirector = await listen((req, res) => {
    const to = new URL(req.url ?? '/', 'http://x').searchParams.get('to');
    res.writeHead(302, { location: to ?? '/' }).end();
  });
  app = await listen((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seenHeaders.push({ path: url.pathname, host: req.headers.host, authorization: req.headers.authorization, accept: req.headers.accept });
    if (url.pathname === '/hello') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ hello: 'world', host: req.headers.host }));
    else if (url.pathname === '/big') res.writeHead(200, { 'content-length': '2000' }).end('x'.repeat(2000));
    else if (url.pathname === '/big-chunked') {
      res.writeHead(200);
      for (let i = 0; i < 20; i += 1) res.write('y'.repeat(100));
      res.end();
    } else if (url.pathname === '/slow') setTimeout(() => res.end('late'), 2_000).unref();
    else if (url.pathname === '/hop') res.writeHead(307, { location: '/hello' }).end();
    else if (url.pathname === '/loop') res.writeHead(302, { location: '/loop' }).end();
    else if (url.pathname === '/away') res.writeHead(302, { location: `http://local2.test:${app.port}/hello` }).end();
    else res.writeHead(404).end();
  });
});

afterAll(async () => {
  await Promise.all([close(target.server), close(redirector.server), close(app.server)]);
});

const policy = (overrides: Partial<SafeFetchPolicy> = {}): SafeFetchPolicy => ({
  allowHosts: [...TARGET_HOSTS, 'local.test', 'local2.test', 'public.test', 'imds.test'],
  allowHttpHosts: [...TARGET_HOSTS, 'local.test', 'local2.test', 'imds.test'],
  allowPrivateHosts: ['local.test', 'local2.test'],
  timeoutMs: 2_000,
  maxResponseBytes: 1_000,
  resolve,
  ...overrides,
});

/** Each target URL (the port is the counting server's) and the refusal it must get. */
const refusals = (port: number): [string, string][] => [
  [`http://169.254.169.254:${port}/latest/meta-data/`, 'refused: 169.254.169.254 is a link-local address'],
  [`http://2852039166:${port}/`, 'refused: 169.254.169.254 is a link-local address'],
  [`http://127.0.0.1:${port}/`, 'refused: 127.0.0.1 is a loopback address'],
  [`http://[::1]:${port}/`, 'refused: ::1 is a loopback address'],
  [`http://10.1.2.3:${port}/`, 'refused: 10.1.2.3 is a private address'],
  [`http://172.16.0.1:${port}/`, 'refused: 172.16.0.1 is a private address'],
  [`http://192.168.1.1:${port}/`, 'refused: 192.168.1.1 is a private address'],
  [`http://100.64.0.1:${port}/`, 'refused: 100.64.0.1 is a carrier-grade NAT address'],
  [`http://0.0.0.0:${port}/`, 'refused: 0.0.0.0 is an unspecified address'],
  [`http://224.0.0.1:${port}/`, 'refused: 224.0.0.1 is a multicast address'],
  [`http://255.255.255.255:${port}/`, 'refused: 255.255.255.255 is a broadcast address'],
  [`http://[::ffff:127.0.0.1]:${port}/`, 'refused: ::ffff:7f00:1 is a loopback address (IPv4-mapped 127.0.0.1)'],
  [`http://[::ffff:7f00:1]:${port}/`, 'refused: ::ffff:7f00:1 is a loopback address (IPv4-mapped 127.0.0.1)'],
  [`http://[fe80::1]:${port}/`, 'refused: fe80::1 is a link-local address'],
  [`http://[fd00:ec2::254]:${port}/`, 'refused: fd00:ec2::254 is the AWS instance metadata address'],
  [`http://[fc00::1]:${port}/`, 'refused: fc00::1 is a private address'],
  [`http://[64:ff9b::7f00:1]:${port}/`, 'refused: 64:ff9b::7f00:1 is a loopback address (NAT64 127.0.0.1)'],
  [`http://[2002:a9fe:a9fe::]:${port}/`, 'refused: 2002:a9fe:a9fe:: is a link-local address (6to4 169.254.169.254)'],
  [`http://[::127.0.0.1]:${port}/`, 'refused: ::7f00:1 is an IPv4-compatible IPv6 address (deprecated)'],
  [`http://2130706433:${port}/`, 'refused: 127.0.0.1 is a loopback address'],
  [`http://0177.0.0.1:${port}/`, 'refused: 127.0.0.1 is a loopback address'],
  [`http://0x7f000001:${port}/`, 'refused: 127.0.0.1 is a loopback address'],
  [`http://0x7f.0.0.1:${port}/`, 'refused: 127.0.0.1 is a loopback address'],
  [`http://127.1:${port}/`, 'refused: 127.0.0.1 is a loopback address'],
  [`http://evil.test:${port}/`, 'refused: 127.0.0.1 is a loopback address (host evil.test resolves to it)'],
  [`http://metadata.example:${port}/`, 'refused: 169.254.169.254 is a link-local address (host metadata.example resolves to it)'],
  [`http://mixed.test:${port}/`, 'refused: 10.0.0.7 is a private address (host mixed.test resolves to it)'],
  [`http://mapped.test:${port}/`, 'refused: ::ffff:127.0.0.1 is a loopback address (IPv4-mapped 127.0.0.1) (host mapped.test resolves to it)'],
];

describe('safe fetch: refused before anything is sent', () => {
  it('refuses every private, loopback, link-local, metadata and special form, in each notation', async () => {
    const safeFetch = createSafeFetch(policy());
    for (const [url, message] of refusals(target.port)) {
      const error = await safeFetch(url).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error, url).toBeInstanceOf(OutboundRefusedError);
      expect((error as Error).message, url).toBe(message);
    }
    expect(target.counter.connections).toBe(0);
  });

  it('refuses a redirect from an allowed server to each of them, sending nothing there', async () => {
    const safeFetch = createSafeFetch(policy());
    for (const [url, message] of refusals(target.port)) {
      const from = `http://local.test:${redirector.port}/?to=${encodeURIComponent(url)}`;
      await expect(safeFetch(from), url).rejects.toThrow(`${message} (redirected from local.test)`);
    }
    expect(target.counter.connections).toBe(0);
    expect(redirector.counter.connections).toBeGreaterThan(0);
  });

  it('refuses localhost through the system resolver', async () => {
    const { resolve: _injected, ...withSystemResolver } = policy();
    await expect(createSafeFetch(withSystemResolver)(`http://localhost:${target.port}/`)).rejects.toThrow(
      /^refused: (127\.0\.0\.1|::1) is a loopback address \(host localhost resolves to it\)$/,
    );
    expect(target.counter.connections).toBe(0);
  });

  it('refuses a host outside the allow-list, before resolving it', async () => {
    resolveCalls.length = 0;
    await expect(createSafeFetch(policy())('https://other.test/')).rejects.toThrow('refused: other.test is not an allowed host');
    await expect(createSafeFetch(policy())(`http://local.test:${redirector.port}/?to=${encodeURIComponent('https://other.test/')}`)).rejects.toThrow(
      'refused: other.test is not an allowed host (redirected from local.test)',
    );
    expect(resolveCalls).not.toContain('other.test');
  });

  it('refuses plain http unless allowed for the host, other schemes and credentials in the URL', async () => {
    const safeFetch = createSafeFetch(policy());
    await expect(safeFetch('http://public.test/')).rejects.toThrow('refused: public.test requires https');
    await expect(safeFetch('ftp://public.test/')).rejects.toThrow('refused: scheme ftp: is not http(s)');
    await expect(safeFetch('file:///etc/passwd')).rejects.toThrow('refused: scheme file: is not http(s)');
    await expect(safeFetch('https://user:pw@public.test/')).rejects.toThrow('refused: credentials in the URL of public.test');
  });

  it('never lets allowPrivateHosts reach a metadata address', async () => {
    const safeFetch = createSafeFetch(policy({ allowPrivateHosts: ['imds.test', '169.254.169.254'] }));
    await expect(safeFetch('http://imds.test/')).rejects.toThrow('refused: 169.254.169.254 is a link-local address (host imds.test resolves to it)');
    await expect(safeFetch('http://169.254.169.254/')).rejects.toThrow('refused: 169.254.169.254 is a link-local address');
  });

  it('stops after five redirects', async () => {
    await expect(createSafeFetch(policy())(`http://local.test:${app.port}/loop`)).rejects.toThrow('refused: more than 5 redirects from local.test');
  });
});

describe('safe fetch: allowed calls', () => {
  it('calls a local server explicitly allowed (private + http), connecting to the checked address with the name as Host', async () => {
    resolveCalls.length = 0;
    const response = await createSafeFetch(policy())(`http://local.test:${app.port}/hello`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ hello: 'world', host: `local.test:${app.port}` });
    // One lookup, ours: `local.test` exists in no real DNS, so the connection used the pinned address.
    expect(resolveCalls).toEqual(['local.test']);
  });

  it('follows a same-origin redirect, checking the new hop', async () => {
    const response = await createSafeFetch(policy())(`http://local.test:${app.port}/hop`);
    expect(await response.json()).toMatchObject({ hello: 'world' });
  });

  it('drops credentials on a cross-origin redirect', async () => {
    seenHeaders.length = 0;
    const response = await createSafeFetch(policy())(`http://local.test:${app.port}/away`, { headers: { Authorization: 'Bearer s3cr3t', Accept: 'application/json' } });
    expect(response.status).toBe(200);
    expect(seenHeaders).toEqual([
      { path: '/away', host: `local.test:${app.port}`, authorization: 'Bearer s3cr3t', accept: 'application/json' },
      { path: '/hello', host: `local2.test:${app.port}`, authorization: undefined, accept: 'application/json' },
    ]);
  });

  it('refuses the direct 302 from `/away` without the redirect target allowed', async () => {
    const safeFetch = createSafeFetch(policy({ allowHosts: ['local.test'], allowPrivateHosts: ['local.test'], allowHttpHosts: ['local.test'] }));
    await expect(safeFetch(`http://local.test:${app.port}/away`)).rejects.toThrow('refused: local2.test is not an allowed host (redirected from local.test)');
  });
});

describe('safe fetch: limits', () => {
  it('aborts a response larger than maxResponseBytes (declared or streamed)', async () => {
    const safeFetch = createSafeFetch(policy());
    await expect(safeFetch(`http://local.test:${app.port}/big`)).rejects.toThrow(OutboundResponseTooLargeError);
    await expect(safeFetch(`http://local.test:${app.port}/big-chunked`)).rejects.toThrow('response from local.test exceeds 1000 bytes');
  });

  it('times out after timeoutMs', async () => {
    const started = Date.now();
    const error = await createSafeFetch(policy({ timeoutMs: 150 }))(`http://local.test:${app.port}/slow`).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OutboundTimeoutError);
    expect((error as Error).message).toBe('timed out after 150 ms calling local.test');
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("stops when the caller's signal aborts", async () => {
    const controller = new AbortController();
    const pending = createSafeFetch(policy())(`http://local.test:${app.port}/slow`, { signal: controller.signal });
    controller.abort(new Error('cancelled'));
    await expect(pending).rejects.toThrow('cancelled');
  });
});

describe('address rules', () => {
  it('allows public unicast and, for private hosts, private ranges but not metadata', () => {
    expect(refusalOf('93.184.216.34', false)).toBeUndefined();
    expect(refusalOf('2606:4700::1111', false)).toBeUndefined();
    expect(refusalOf('64:ff9b::5db8:d822', false)).toBeUndefined();
    expect(refusalOf('10.0.0.1', true)).toBeUndefined();
    expect(refusalOf('::1', true)).toBeUndefined();
    expect(refusalOf('fd00:ec2::254', true)).toBe('is the AWS instance metadata address');
    expect(refusalOf('::ffff:169.254.169.254', true)).toBe('is a link-local address (IPv4-mapped 169.254.169.254)');
    expect(refusalOf('224.0.0.1', true)).toBe('is a multicast address');
  });
});
