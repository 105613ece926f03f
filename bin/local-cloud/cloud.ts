import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { join, resolve } from 'node:path';
import { ENV } from '../../lambdas/contracts';
import { PRM_PATH } from '../../lambdas/contracts/auth';
import type { SwitchboardConfig } from '../../lib/config';
import { sqsClient, type AwsClientConfig } from '../../lambdas/adapters/runtime';
import { PROJECT_ROOT } from '../../lib/constructs/switchboard-function';
import { tableSchemasOf, type CostMeter } from './cost-meter';
import { createApiGateway } from './api-gateway';
import { LOCAL_CREDENTIALS, LocalCloudError, lockDataDir, startEmulators } from './emulators';
import { releaseHeldMessages, startQueuePoller } from './event-sources';
import { FunctionTimeoutError, LocalFunctions } from './functions';
import { LocalStepFunctions } from './step-functions';
import { startConverseDouble } from '../harness/converse-double';
import {
  CLIENTS_FILE,
  createIdentityProvider,
  createIssuerKey,
  DEFAULT_BASE_URL,
  ensureClientSecrets,
  ensureIssuerKey,
  localResourceOf,
  signLocalToken,
  type IdentityProvider,
  type TokenRequest,
} from './identity-provider';
import { LOCAL_ACCOUNT, provision, type LocalPlatform } from './provision';
import { readProjectConfig, synthesizeTemplates } from './synth';
import { LocalTrail } from './trail';
import { LOCAL_CLOUD_FILE, TRAIL_DIR, type LocalCloudDiscovery } from './discovery';
import { createLocalConsole, type Console } from './console/local-console';

export { LocalCloudError } from './emulators';

/** The connectors' secrets locally, in the data folder (`{ "<name>": "<value>" }`). */
export const SECRETS_FILE = 'secrets.json';

export interface LocalCloudOptions {
  port?: number;
  host?: string;
  /** Where emulator state and the issuer key live (locked while running). */
  dataDir: string;
  /** Keep emulator state and the issuer key in memory only: nothing is written to dataDir. */
  inMemory?: boolean;
  /** Powertools log level of the functions (default WARN, so the console stays readable). */
  logLevel?: string;
  /** Run scheduled functions this often instead of their template rate (tests use it). */
  scheduleOverrideMs?: number;
  log?: (message: string) => void;
  /** Counts requests, invocations and API Gateway requests (`npm run bench -- --cost`). */
  meter?: CostMeter;
  /** Changes cdk.json's config before the synth (tests and benches: a tier, a tenant, a budget). */
  adjustConfig?: (config: SwitchboardConfig) => SwitchboardConfig;
}

export interface LocalCloud {
  url: string;
  mcpUrl: string;
  platform: LocalPlatform;
  config: SwitchboardConfig;
  aws: Awaited<ReturnType<typeof startEmulators>>['aws'] & { stepfunctions: NonNullable<AwsClientConfig['stepfunctions']> };
  /** The command that prints a token for this cloud; undefined in memory (no other process can sign). */
  tokenCommand: string | undefined;
  /** The local OpenID provider's issuer (`<url>/oidc`). */
  issuer: string;
  /** The machine clients' ids and secrets (config auth.cognito.machineClients; client credentials). */
  machineClients: Record<string, { clientId: string; clientSecret: string }>;
  /** Signs an access token as the local provider would (its key, issuer, audience and claims); every scope unless `scopes`. */
  token(request: TokenRequest): Promise<string>;
  invoke<T>(functionName: string, event: unknown): Promise<T>;
  /** LOCAL ONLY: the CloudTrail stand-in recording the calls and invocations of this cloud (bin/local-cloud/trail.ts). */
  trail: LocalTrail;
  stop(): Promise<void>;
}

/** Hostnames the local MCP endpoint accepts in `Host` (DNS-rebinding protection). */
export const LOCAL_ALLOWED_HOSTS = ['localhost', '127.0.0.1', '::1'];

const VERSION = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** A word a POSIX shell reads back as `value`. */
const shellWord = (value: string) => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`);

/** `npm run token` for a data folder and base URL: `--data-dir` and `--url` only when not the defaults. */
export const tokenCommandFor = (dataDir: string, baseUrl: string = DEFAULT_BASE_URL) =>
  `npm run -s token -- --tenant acme --roles submitter${resolve(dataDir) === join(PROJECT_ROOT, '.switchboard') ? '' : ` --data-dir ${shellWord(resolve(dataDir))}`}${
    baseUrl === DEFAULT_BASE_URL ? '' : ` --url ${shellWord(baseUrl)}`
  }`;

/**
 * The request-target as a URL on a fixed origin: the client's Host never takes part in parsing
 * (a bad one is the endpoint's to judge). Origin-form (`/mcp?x`) and absolute-form
 * (`http://host/mcp`) are accepted; anything else (`*`, `http://[/mcp`) is undefined: a 400.
 */
export const parseRequestTarget = (target: string | undefined): URL | undefined => {
  const base = 'http://localhost';
  if (target?.startsWith('/')) return URL.canParse(`${base}${target}`) ? new URL(`${base}${target}`) : undefined;
  if (!target || !/^https?:\/\//i.test(target) || !URL.canParse(target)) return undefined;
  const absolute = new URL(target);
  return new URL(`${base}${absolute.pathname}${absolute.search}`);
};

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** What `GET /` shows: where the MCP endpoint is and how to connect (OAuth or a token), as JSON or a small HTML page. */
const landing = (baseUrl: string, ready: boolean, tokenCommand: string | undefined, issuer: string) => {
  const document = {
    name: 'Switchboard',
    version: VERSION,
    status: ready ? 'ready' : 'starting',
    mcpEndpoint: localResourceOf(baseUrl),
    transport: 'Streamable HTTP, POST only, Authorization: Bearer <token>',
    oauth: {
      protectedResourceMetadata: `${baseUrl}${PRM_PATH}/mcp`,
      authorizationServer: issuer,
      howTo: 'OAuth-capable MCP clients (the MCP Inspector: just connect) discover the local sign-in page and get a token themselves',
    },
    machineClients: `client credentials: a client's id and secret with npm run -s token -- --client <name>${tokenCommand ? '' : ' (in memory: not available to other commands)'}`,
    token: tokenCommand ?? 'printed by npm start when it is ready (--in-memory keeps the issuer key in memory, so npm run token cannot sign for it)',
    health: `${baseUrl}/healthz`,
    console: `${baseUrl}/console/`,
    docs: 'docs/protocol.md',
  };
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchboard ${escapeHtml(VERSION)}</title></head>
<body>
<h1>Switchboard ${escapeHtml(VERSION)}: ${document.status}</h1>
<p>MCP endpoint (${escapeHtml(document.transport)}): <code>${escapeHtml(document.mcpEndpoint)}</code></p>
<p>OAuth: clients discover the authorization server (<code>${escapeHtml(issuer)}</code>, a local sign-in page) from
<a href="${PRM_PATH}/mcp"><code>${escapeHtml(document.oauth.protectedResourceMetadata)}</code></a>.
MCP Inspector: <code>npx @modelcontextprotocol/inspector</code>, Streamable HTTP, the URL above, Connect.</p>
<p>Or a token: ${tokenCommand ? `<code>${escapeHtml(tokenCommand)}</code>` : escapeHtml(document.token)}</p>
<p>Machine clients (client credentials): ${escapeHtml(document.machineClients)}</p>
<p>Health: <a href="/healthz"><code>${escapeHtml(document.health)}</code></a></p>
<p>Console (queues, tasks and runs, agents, audit; sign in through the local provider): <a href="/console/">${escapeHtml(document.console)}</a></p>
<p>Clients and request rules: <code>${document.docs}</code> in the repository.</p>
</body></html>
`;
  return { document, html };
};

/** LOCAL ONLY: the event of `GET /healthz?deep=1`: the machine's operator, as the authorizer would name one (no token on loopback). */
const localOperatorHealthEvent = () => ({
  httpMethod: 'GET',
  path: '/healthz/deep',
  resource: '/healthz/deep',
  headers: {},
  requestContext: { authorizer: { principalId: 'local/operator', roles: 'operator' }, stage: 'v1', requestId: 'local-health' },
});

const sendJson = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
};

/** A client that went away mid-request is no error of ours. */
const isClientAbort = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code === 'ECONNRESET';

/** Turns a listen failure into one line that says what to do. */
const listenError = (error: NodeJS.ErrnoException, port: number, host: string): Error => {
  if (error.code === 'EADDRINUSE') {
    return new LocalCloudError(`port ${port} on ${host} is already in use (another npm start?): stop it, or pick another port with --port N or PORT=N`);
  }
  if (error.code === 'EACCES') return new LocalCloudError(`not allowed to listen on port ${port} on ${host}: pick a port above 1023 with --port N`);
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') {
    return new LocalCloudError(`--host ${host}: not an address of this machine (try 127.0.0.1)`);
  }
  return error;
};

/**
 * Starts Switchboard on this machine: the emulators, the resources and functions of the
 * synthesized CDK app, the API Gateway stand-in, queue pollers and schedules.
 */
/**
 * A Task state's Lambda invoke, as Step Functions sees it: the function by name or ARN, and a
 * function that ran out of time reported as Lambda reports it (Sandbox.Timedout).
 */
const invokeForStepFunctions = async (functions: LocalFunctions, fn: string, payload: unknown): Promise<unknown> => {
  const name = /function:([^:/]+)/.exec(fn)?.[1] ?? fn;
  try {
    return await functions.invoke(name, payload);
  } catch (error) {
    if (error instanceof FunctionTimeoutError) throw Object.assign(new Error(error.message), { name: 'Sandbox.Timedout' });
    throw error;
  }
};

export const startLocalCloud = async (options: LocalCloudOptions): Promise<LocalCloud> => {
  const log = options.log ?? ((message: string) => process.stderr.write(`[local] ${message}\n`));
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 3000;
  const projectConfig = options.adjustConfig ? options.adjustConfig(readProjectConfig()) : readProjectConfig();
  const unlock = options.inMemory ? () => undefined : lockDataDir(options.dataDir);
  let tokenCommand: string | undefined;
  // No CloudWatch here: Powertools metrics (EMF on stdout) stay off unless asked for.
  process.env['POWERTOOLS_METRICS_DISABLED'] ??= 'true';

  let gateway: ReturnType<typeof createApiGateway> | undefined;
  /** The deep health check through the health function of the template (the code AWS runs). */
  let deepHealth: ((res: ServerResponse) => Promise<void>) | undefined;
  let baseUrl = '';
  let identity: IdentityProvider | undefined;
  let webConsole: Console | undefined;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = parseRequestTarget(req.url);
    if (!url) return sendJson(res, 400, { message: 'Bad Request: the request-target is not a path' });
    const method = req.method ?? 'GET';
    if ((method === 'GET' || method === 'HEAD') && url.pathname === '/') {
      const { document, html } = landing(baseUrl, Boolean(gateway), tokenCommand, identity?.issuer ?? '');
      const wantsJson = /\bapplication\/json\b/i.test(req.headers.accept ?? '');
      const body = wantsJson ? JSON.stringify(document) : html;
      res.writeHead(200, {
        'content-type': wantsJson ? 'application/json' : 'text/html; charset=utf-8',
        'content-length': String(Buffer.byteLength(body)),
        vary: 'accept',
      });
      return void res.end(body);
    }
    if (identity && (await identity.handle(req, res, url))) return;
    if (webConsole && (await webConsole.handle(req, res, url))) return;
    if (method === 'GET' && url.pathname === '/healthz') {
      if (!gateway) return sendJson(res, 503, { ready: false });
      // LOCAL ONLY, on loopback: the deep check without a token (on AWS: GET /healthz/deep, operators; docs/operations.md).
      if (url.searchParams.get('deep') === '1') return deepHealth!(res);
      // Liveness: the template's MOCK answer, as API Gateway gives it.
    }
    if (!gateway) return sendJson(res, 503, { message: 'starting' });
    const routed = await gateway(req, res, url);
    if (routed) options.meter?.apiRequest();
    if (!routed) sendJson(res, 404, { message: `no route for ${method} ${url.pathname}` });
  };
  // One request never takes the platform down: whatever it throws is logged once and, if the
  // answer has not started, answered with a JSON 500.
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      if (!isClientAbort(error)) log(`${req.method} ${req.url}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      try {
        if (!res.headersSent) sendJson(res, 500, { message: 'Internal server error' });
        else res.destroy();
      } catch {
        res.destroy();
      }
    });
  };
  const server: Server = createServer(listener);
  // Node hands CONNECT to a 'connect' listener instead of the request listener, and closes the
  // connection when there is none: answer it like any other method the endpoint does not take.
  const tunnels = new Set<Duplex>(); // CONNECT sockets leave the server's own bookkeeping
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    const body = JSON.stringify({ message: 'Method Not Allowed: this endpoint accepts POST only' });
    tunnels.add(socket);
    socket.on('close', () => tunnels.delete(socket));
    socket.on('error', () => undefined);
    socket.end(
      `HTTP/1.1 405 Method Not Allowed\r\nAllow: POST\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });

  let issuerKey: Awaited<ReturnType<typeof createIssuerKey>>;
  try {
    issuerKey = options.inMemory ? await createIssuerKey() : await ensureIssuerKey(options.dataDir);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error, port, host)));
      server.listen(port, host, () => resolve());
    });
  } catch (error) {
    unlock();
    throw error;
  }
  const bound = (server.address() as AddressInfo).port;
  baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
  if (!options.inMemory) tokenCommand = tokenCommandFor(options.dataDir, baseUrl);

  // The machine clients AWS turns into Cognito app clients are the local provider's confidential clients.
  const machineClients = projectConfig.auth.cognito?.machineClients ?? [];
  let secrets: Record<string, string>;
  try {
    secrets = ensureClientSecrets(options.inMemory ? undefined : options.dataDir, machineClients.map((client) => client.name));
  } catch (error) {
    server.close();
    unlock();
    throw new LocalCloudError(`cannot read or write ${join(options.dataDir, CLIENTS_FILE)}: ${(error as Error).message}`);
  }
  identity = createIdentityProvider({ baseUrl, key: issuerKey, machineClients, secrets, log });

  // Same app, same config, except that tokens come from the local provider (no Cognito here).
  const { cognito: _cognito, ...projectAuth } = projectConfig.auth;
  const config: SwitchboardConfig = {
    ...projectConfig,
    auth: { ...projectAuth, resource: localResourceOf(baseUrl), issuers: [identity.settings] },
  };
  const stoppers: (() => Promise<void>)[] = [];
  let emulators: Awaited<ReturnType<typeof startEmulators>> | undefined;
  // The local key files (audit digest signing, envelope): in the data folder, or for --in-memory a temporary folder removed on stop.
  const keysDir = options.inMemory ? mkdtempSync(join(tmpdir(), 'switchboard-keys-')) : join(options.dataDir, 'keys');
  if (options.inMemory) stoppers.push(async () => rmSync(keysDir, { recursive: true, force: true }));
  try {
    emulators = await startEmulators({ region: config.primaryRegion, ...(options.inMemory ? {} : { dataDir: options.dataDir }) });
    log('synthesizing the CDK app');
    const stacks = synthesizeTemplates(config);
    const platform = await provision(stacks, emulators.aws, config.primaryRegion, log);
    options.meter?.describeTables(tableSchemasOf(stacks), emulators.aws.dynamodb ?? {});
    // LOCAL ONLY: CloudTrail's stand-in (docs/audit.md), daily files under <data folder>/trail (memory only for --in-memory).
    const trail = LocalTrail.forStacks(stacks, { region: config.primaryRegion, accountId: LOCAL_ACCOUNT, ...(options.inMemory ? {} : { dir: join(options.dataDir, TRAIL_DIR) }), log });
    stoppers.push(() => trail.stop());
    const functions = new LocalFunctions(config.primaryRegion, options.meter, trail);
    const stepFunctions = new LocalStepFunctions({
      region: config.primaryRegion,
      account: LOCAL_ACCOUNT,
      invoke: (fn, payload) => invokeForStepFunctions(functions, fn, payload),
      ...(options.inMemory ? {} : { dataDir: options.dataDir }),
      log,
    });
    for (const machine of platform.stateMachines) stepFunctions.register(machine);
    const { endpoint: sfnEndpoint } = await stepFunctions.start();
    stoppers.push(() => stepFunctions.stop());
    // LLM steps: no model here; a local double of Bedrock's Converse API answers deterministically.
    const converse = config.connectors.llm.length ? await startConverseDouble() : undefined;
    if (converse) stoppers.push(() => converse.stop());
    const aws: AwsClientConfig = {
      ...emulators.aws,
      stepfunctions: { endpoint: sfnEndpoint, region: config.primaryRegion, credentials: LOCAL_CREDENTIALS, disableHostPrefix: true },
      ...(converse ? { bedrock: { endpoint: converse.endpoint, region: config.primaryRegion, credentials: LOCAL_CREDENTIALS } } : {}),
      plugins: [trail.sdkPlugin, ...(options.meter ? [options.meter.sdkPlugin] : [])],
    };
    for (const fn of platform.functions.values()) {
      await functions.load(fn, aws, {
        POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'WARN',
        [ENV.allowedHosts]: LOCAL_ALLOWED_HOSTS.join(','),
        // Connectors' secrets: a JSON file in the data folder ({ "<name>": "<value>" }) instead of Secrets Manager.
        [ENV.secretsFile]: join(options.dataDir, SECRETS_FILE),
        // The access policies from the configured folder itself (the bundle carries a copy at POLICIES_DIR).
        ...(ENV.policiesDir in fn.environment ? { [ENV.policiesDir]: resolve(PROJECT_ROOT, config.policiesDir) } : {}),
        // No KMS here: LOCAL-ONLY key files stand in for the audit signing key and the data keys (README).
        ...(ENV.auditTable in fn.environment ? { [ENV.auditSigningKeyFile]: join(keysDir, 'audit-signing.pem') } : {}),
        // No S3 here: signed digests stay in the audit table (DIGEST# items), as the index does on AWS.
        ...(ENV.auditDigestBucket in fn.environment ? { [ENV.auditDigestBucket]: '' } : {}),
        ...(ENV.classifications in fn.environment ? { [ENV.envelopeKeyFile]: join(keysDir, 'envelope.key') } : {}),
        // The deep health check: the same LOCAL-ONLY key files are what it checks instead of the KMS keys.
        ...(ENV.healthChecks in fn.environment ? { [ENV.envelopeKeyFile]: join(keysDir, 'envelope.key'), [ENV.auditSigningKeyFile]: join(keysDir, 'audit-signing.pem') } : {}),
      });
    }
    const sqs = sqsClient(aws);
    for (const source of platform.eventSources) {
      const released = await releaseHeldMessages(sqs, source.queueUrl, emulators.heldReceipts(source.queueUrl.split('/').pop()!));
      if (released > 0) log(`${released} message(s) held by a process that stopped without finishing them: visible again`);
      const poller = startQueuePoller(source, functions, sqs, config.primaryRegion, log);
      stoppers.push(poller.stop);
    }
    for (const schedule of platform.schedules) {
      const timer = setInterval(() => {
        for (const name of schedule.functionNames) {
          functions.invoke(name, { source: 'aws.events', 'detail-type': 'Scheduled Event', time: new Date().toISOString() })
            .catch((error: unknown) => log(`scheduled ${name} failed: ${String(error)}`));
        }
      }, options.scheduleOverrideMs ?? schedule.rateMs);
      stoppers.push(async () => clearInterval(timer));
    }
    // The operators' console at /console (LOCAL ONLY, docs/console.md), served once the platform is up.
    webConsole = createLocalConsole({ baseUrl, issuerKey, settings: identity.settings, platform, aws: emulators.aws });
    const healthFunction = [...platform.functions.values()].find((fn) => ENV.healthChecks in fn.environment)?.name;
    deepHealth = async (res) => {
      if (!healthFunction) return sendJson(res, 404, { message: 'no deep health check in this template' });
      const answer = await functions.invoke<{ statusCode: number; body: string }>(healthFunction, localOperatorHealthEvent());
      sendJson(res, answer.statusCode, JSON.parse(answer.body));
    };
    gateway = createApiGateway(platform, functions, config.primaryRegion);
    log(`${platform.functions.size} functions, ${platform.routes.length} routes, ${platform.eventSources.length} queue pollers, ${platform.stateMachines.length} state machines`);
    const running = emulators;
    // How other commands (npm run audit) find this cloud: removed on stop; none for --in-memory (nothing is written).
    const discoveryFile = join(options.dataDir, LOCAL_CLOUD_FILE);
    if (!options.inMemory) {
      const auditTable = [...platform.functions.values()].map((fn) => fn.environment[ENV.auditTable]).find(Boolean);
      const discovery: LocalCloudDiscovery = {
        pid: process.pid,
        url: baseUrl,
        mcpUrl: `${baseUrl}/mcp`,
        region: config.primaryRegion,
        dynamodbEndpoint: String(running.aws.dynamodb?.endpoint ?? ''),
        ...(auditTable ? { auditTable } : {}),
        trailDir: join(options.dataDir, TRAIL_DIR),
        auditSigningKeyFile: join(keysDir, 'audit-signing.pem'),
      };
      writeFileSync(discoveryFile, `${JSON.stringify(discovery, null, 2)}\n`, { mode: 0o600 });
      stoppers.unshift(async () => rmSync(discoveryFile, { force: true }));
    }
    return {
      url: baseUrl,
      mcpUrl: `${baseUrl}/mcp`,
      platform,
      config,
      aws: { ...running.aws, stepfunctions: aws.stepfunctions! },
      tokenCommand,
      issuer: identity.issuer,
      machineClients: Object.fromEntries(Object.entries(secrets).map(([name, secret]) => [name, { clientId: name, clientSecret: secret }])),
      token: (request) => signLocalToken(issuerKey, baseUrl, request),
      invoke: (name, event) => functions.invoke(name, event),
      trail,
      stop: async () => {
        await Promise.all(stoppers.map((stop) => stop()));
        // close() waits for every connection to end: end them now, or one idle keep-alive (or a
        // half-open raw socket) holds the stop for ever.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        for (const socket of tunnels) socket.destroy();
        await closed;
        await running.stop();
        await trail.flush(); // what the stopping pollers did last
        unlock();
      },
    };
  } catch (error) {
    await Promise.all(stoppers.map((stop) => stop()));
    server.close();
    server.closeAllConnections();
    await emulators?.stop();
    unlock();
    throw error;
  }
};
