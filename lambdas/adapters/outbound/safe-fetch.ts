import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent, fetch as undiciFetch } from 'undici';

/**
 * The one way Switchboard calls a URL on a tenant's behalf. Every hop (the first request and each
 * redirect) passes the same checks, in this order, before any socket opens:
 *  1. scheme http(s), no credentials in the URL;
 *  2. host: exactly one of `allowHosts` (after the URL parser's normalization, so `0x7f.1` is 127.0.0.1);
 *     https, or http for a host in `allowHttpHosts`;
 *  3. addresses: a literal IP, or every address the name resolves to, must be public unicast (see
 *     `refusalOf`); a host in `allowPrivateHosts` may also reach private, loopback, link-local and
 *     CGNAT addresses, never the cloud metadata endpoints.
 * The connection then goes to the checked addresses (a pinned lookup: no second DNS query that could
 * rebind), keeping the Host header and TLS SNI of the name.
 */

/** What the resolver answers; injectable so tests can make `evil.test` resolve to 127.0.0.1. */
export type ResolveHost = (hostname: string) => Promise<readonly LookupAddress[]>;

export interface SafeFetchPolicy {
  /** Host names (or IP literals) that may be called; anything else is refused. */
  allowHosts: readonly string[];
  /** Hosts that may resolve to private, loopback, link-local or CGNAT addresses (on-prem systems, tests). */
  allowPrivateHosts?: readonly string[];
  /** Hosts that may be called over plain http. */
  allowHttpHosts?: readonly string[];
  /** For the whole call: resolution, connection, redirects and reading the body. */
  timeoutMs: number;
  maxResponseBytes: number;
  /** Default 5. */
  maxRedirects?: number;
  /** Default: the system resolver (`dns.lookup`, all addresses). */
  resolve?: ResolveHost;
}

export interface SafeFetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  signal?: AbortSignal;
}

/** What a connector calls; the global `fetch` fits it too. */
export type FetchLike = (url: string, init: SafeFetchInit) => Promise<Response>;

/** Something outbound went wrong; the message is one short line without secrets. */
export class OutboundError extends Error {
  override name = 'OutboundError';
}

/** The policy forbids the call (host, scheme, address, too many redirects); nothing was sent. */
export class OutboundRefusedError extends OutboundError {
  override name = 'OutboundRefusedError';
}

/** The host could not be resolved or reached, or the connection broke. */
export class OutboundNetworkError extends OutboundError {
  override name = 'OutboundNetworkError';
}

export class OutboundTimeoutError extends OutboundError {
  override name = 'OutboundTimeoutError';
}

export class OutboundResponseTooLargeError extends OutboundError {
  override name = 'OutboundResponseTooLargeError';
}

const DEFAULT_MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
/** Kept on a cross-origin redirect; everything else (credentials, API keys, custom headers) is dropped. */
const CROSS_ORIGIN_SAFE_HEADERS = new Set(['accept', 'accept-language', 'user-agent', 'content-type']);
/** Instance metadata endpoints (EC2 IMDS v4/v6, ECS task metadata, EKS pod identity): refused even for private hosts. */
const METADATA_ADDRESSES = new Set(['169.254.169.254', '169.254.170.2', '169.254.170.23', 'fd00:ec2::254', 'fd00:ec2::23']);

/** The ranges a host in `allowPrivateHosts` may reach besides public unicast. */
const PRIVATE_KINDS = new Set(['loopback', 'private', 'linkLocal', 'carrierGradeNat', 'uniqueLocal']);

const KIND_WORDS: Record<string, string> = {
  loopback: 'a loopback address',
  private: 'a private address',
  uniqueLocal: 'a private address',
  linkLocal: 'a link-local address',
  carrierGradeNat: 'a carrier-grade NAT address',
  unspecified: 'an unspecified address',
  multicast: 'a multicast address',
  broadcast: 'a broadcast address',
  reserved: 'a reserved address',
  teredo: 'a Teredo tunnel address',
  ipv4Compatible: 'an IPv4-compatible IPv6 address (deprecated)',
  nat64Local: 'a local-use NAT64 address',
};

/** Host name as the allow-lists compare it: lower-case, no brackets, no trailing dot. */
export const normalizeHost = (host: string): string => {
  let name = host.trim().toLowerCase();
  if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1);
  if (name.endsWith('.')) name = name.slice(0, -1);
  // Run names through the URL parser so `0x7f.1` in a list means what it means in a URL.
  if (!name.includes(':')) {
    try {
      name = new URL(`http://${name}/`).hostname;
    } catch {
      return name;
    }
  }
  return isIP(name) === 6 ? ipaddr.parse(name).toString() : name;
};

interface AddressVerdict {
  /** The range the address is in ('unicast' when public), after unwrapping embedded IPv4. */
  kind: string;
  /** Set when the address embeds an IPv4 address (mapped, NAT64, 6to4): `IPv4-mapped 127.0.0.1`. */
  via?: string;
  metadata: boolean;
}

const verdictOf = (address: string): AddressVerdict => {
  const parsed = ipaddr.parse(address);
  const metadata = METADATA_ADDRESSES.has(parsed.toString());
  if (parsed instanceof ipaddr.IPv4) return { kind: parsed.range(), metadata };
  const v6 = parsed;
  const range = v6.range();
  const parts = v6.parts;
  const embedded = (high: number, low: number): ipaddr.IPv4 => new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
  const unwrap = (inner: ipaddr.IPv4, label: string): AddressVerdict => ({
    kind: inner.range(),
    via: `${label} ${inner.toString()}`,
    metadata: metadata || METADATA_ADDRESSES.has(inner.toString()),
  });
  switch (range) {
    case 'ipv4Mapped':
      return unwrap(v6.toIPv4Address(), 'IPv4-mapped');
    case 'rfc6145':
      return unwrap(embedded(parts[6] ?? 0, parts[7] ?? 0), 'IPv4-translated');
    case 'rfc6052':
      // 64:ff9b::/96 carries the IPv4 address in its last 32 bits; the local-use 64:ff9b:1::/48 varies.
      if (parts[2] === 0 && parts[3] === 0 && parts[4] === 0 && parts[5] === 0) return unwrap(embedded(parts[6] ?? 0, parts[7] ?? 0), 'NAT64');
      return { kind: 'nat64Local', metadata };
    case '6to4':
      return unwrap(embedded(parts[1] ?? 0, parts[2] ?? 0), '6to4');
    case 'unicast':
      // ::a.b.c.d (IPv4-compatible, deprecated): no public service lives there.
      if (parts.slice(0, 6).every((part) => part === 0)) return { kind: 'ipv4Compatible', metadata };
      return { kind: 'unicast', metadata };
    default:
      return { kind: range, metadata };
  }
};

/**
 * Why `address` may not be called (a phrase: "is a loopback address"), or undefined when it may.
 * Public unicast only; with `allowPrivate`, also loopback, private (10/8, 172.16/12, 192.168/16,
 * fc00::/7), link-local (169.254/16, fe80::/10) and CGNAT (100.64/10); IPv4 embedded in IPv6
 * (::ffff:0:0/96, ::ffff:0:0:0/96, 64:ff9b::/96, 2002::/16) judged as that IPv4 address; metadata
 * endpoints never.
 */
export const refusalOf = (address: string, allowPrivate: boolean): string | undefined => {
  if (!ipaddr.isValid(address)) return 'is not an IP address';
  const verdict = verdictOf(address);
  const suffix = verdict.via ? ` (${verdict.via})` : '';
  if (verdict.metadata) {
    return verdict.kind === 'linkLocal' ? `is a link-local address${suffix}` : `is the AWS instance metadata address${suffix}`;
  }
  if (verdict.kind === 'unicast') return undefined;
  if (allowPrivate && PRIVATE_KINDS.has(verdict.kind)) return undefined;
  return `is ${KIND_WORDS[verdict.kind] ?? `a special-purpose address (${verdict.kind})`}${suffix}`;
};

const defaultResolve: ResolveHost = (hostname) => dnsLookup(hostname, { all: true, order: 'verbatim' });

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for net/tls.connect that answers with the checked addresses only. */
const pinnedLookup =
  (addresses: readonly LookupAddress[]) =>
  (_hostname: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback): void => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : Number(options.family ?? 0);
    const usable = addresses.filter((entry) => family === 0 || entry.family === family);
    if (usable.length === 0) {
      callback(Object.assign(new Error('no checked address of the requested family'), { code: 'ENOTFOUND' }), []);
      return;
    }
    if (options.all) callback(null, usable.map((entry) => ({ ...entry })));
    else callback(null, usable[0]!.address, usable[0]!.family);
  };

const causeCode = (error: unknown): string => {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return error instanceof Error ? error.message : String(error);
};

/** Creates a fetch that only calls what `policy` allows; see the module comment for the rules. */
export const createSafeFetch = (policy: SafeFetchPolicy) => {
  const allowHosts = new Set(policy.allowHosts.map(normalizeHost));
  const allowPrivate = new Set((policy.allowPrivateHosts ?? []).map(normalizeHost));
  const allowHttp = new Set((policy.allowHttpHosts ?? []).map(normalizeHost));
  const maxRedirects = policy.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const resolve = policy.resolve ?? defaultResolve;

  /** Checks one hop; returns the addresses to connect to (none for an IP literal). */
  const check = async (url: URL, context: string, signal: AbortSignal): Promise<LookupAddress[]> => {
    const host = normalizeHost(url.hostname);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OutboundRefusedError(`refused: scheme ${url.protocol} is not http(s)${context}`);
    if (url.username || url.password) throw new OutboundRefusedError(`refused: credentials in the URL of ${host}${context}`);
    if (!allowHosts.has(host)) throw new OutboundRefusedError(`refused: ${host} is not an allowed host${context}`);
    if (url.protocol === 'http:' && !allowHttp.has(host)) throw new OutboundRefusedError(`refused: ${host} requires https${context}`);
    const mayBePrivate = allowPrivate.has(host);
    if (isIP(host)) {
      const reason = refusalOf(host, mayBePrivate);
      if (reason) throw new OutboundRefusedError(`refused: ${host} ${reason}${context}`);
      return [];
    }
    let addresses: readonly LookupAddress[];
    try {
      addresses = await abortable(resolve(host), signal);
    } catch (error) {
      if (signal.aborted) throw error;
      throw new OutboundNetworkError(`could not resolve ${host}: ${causeCode(error)}`);
    }
    if (addresses.length === 0) throw new OutboundNetworkError(`could not resolve ${host}: no address`);
    for (const { address } of addresses) {
      const reason = refusalOf(address, mayBePrivate);
      if (reason) throw new OutboundRefusedError(`refused: ${address} ${reason} (host ${host} resolves to it)${context}`);
    }
    return [...addresses];
  };

  return async (input: string | URL, init: SafeFetchInit = {}): Promise<Response> => {
    let url: URL;
    try {
      url = new URL(input);
    } catch {
      throw new OutboundRefusedError('refused: not a valid URL');
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new OutboundTimeoutError(`timed out after ${policy.timeoutMs} ms calling ${normalizeHost(url.hostname)}`)), policy.timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, controller.signal]) : controller.signal;
    let method = (init.method ?? 'GET').toUpperCase();
    let headers: Record<string, string> = Object.fromEntries(Object.entries(init.headers ?? {}).map(([key, value]) => [key.toLowerCase(), value]));
    let body = init.body;
    let from: string | undefined;
    try {
      for (let hop = 0; ; hop += 1) {
        const context = from ? ` (redirected from ${from})` : '';
        const addresses = await check(url, context, signal);
        const agent = new Agent({ connect: addresses.length > 0 ? { lookup: pinnedLookup(addresses) } : {}, connections: 1 });
        try {
          let response: Awaited<ReturnType<typeof undiciFetch>>;
          try {
            response = await undiciFetch(url, { method, headers, body, redirect: 'manual', signal, dispatcher: agent });
          } catch (error) {
            if (signal.aborted) throw signal.reason;
            throw new OutboundNetworkError(`could not reach ${normalizeHost(url.hostname)}: ${causeCode(error)}`);
          }
          const location = response.headers.get('location');
          if (REDIRECT_STATUSES.has(response.status) && location !== null) {
            await response.body?.cancel().catch(() => undefined);
            if (hop >= maxRedirects) throw new OutboundRefusedError(`refused: more than ${maxRedirects} redirects from ${normalizeHost(new URL(input).hostname)}`);
            let next: URL;
            try {
              next = new URL(location, url);
            } catch {
              throw new OutboundRefusedError(`refused: invalid redirect location from ${normalizeHost(url.hostname)}`);
            }
            if (response.status === 303 ? method !== 'HEAD' : (response.status === 301 || response.status === 302) && method === 'POST') {
              method = 'GET';
              body = undefined;
              delete headers['content-type'];
              delete headers['content-length'];
            }
            if (next.origin !== url.origin) {
              headers = Object.fromEntries(Object.entries(headers).filter(([key]) => CROSS_ORIGIN_SAFE_HEADERS.has(key)));
            }
            from = normalizeHost(url.hostname);
            url = next;
            continue;
          }
          const bytes = await readCapped(response, policy.maxResponseBytes, normalizeHost(url.hostname), controller, signal);
          const copy = new Headers();
          response.headers.forEach((value, key) => copy.append(key, value));
          return new Response(NULL_BODY_STATUSES.has(response.status) ? null : bytes, { status: response.status, statusText: response.statusText, headers: copy });
        } finally {
          agent.destroy().catch(() => undefined);
        }
      }
    } catch (error) {
      if (error instanceof OutboundError) throw error;
      if (signal.aborted) throw signal.reason;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  };
};

const abortable = <T>(promise: Promise<T>, signal: AbortSignal): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });

/** Reads the whole body, aborting the connection as soon as it passes `maxBytes`. */
const readCapped = async (
  response: Awaited<ReturnType<typeof undiciFetch>>,
  maxBytes: number,
  host: string,
  controller: AbortController,
  signal: AbortSignal,
): Promise<Uint8Array<ArrayBuffer>> => {
  const tooLarge = () => new OutboundResponseTooLargeError(`response from ${host} exceeds ${maxBytes} bytes`);
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    controller.abort(tooLarge());
    throw tooLarge();
  }
  if (!response.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body) {
      total += chunk.byteLength;
      if (total > maxBytes) {
        const error = tooLarge();
        controller.abort(error);
        throw error;
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof OutboundResponseTooLargeError) throw error;
    if (signal.aborted) throw signal.reason;
    throw new OutboundNetworkError(`connection to ${host} broke while reading: ${causeCode(error)}`);
  }
  const bytes = new Uint8Array(new ArrayBuffer(total));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
};
