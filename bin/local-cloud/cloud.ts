import { SQSClient } from '@aws-sdk/client-sqs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ENV } from '../../lambdas/adapters/runtime';
import type { SwitchboardConfig } from '../../lib/config';
import { createApiGateway } from './api-gateway';
import { startEmulators } from './emulators';
import { startQueuePoller } from './event-sources';
import { LocalFunctions } from './functions';
import { discoveryDocument, ensureIssuerKey, LOCAL_ISSUER } from './issuer';
import { provision, type LocalPlatform } from './provision';
import { readProjectConfig, synthesizeTemplates } from './synth';

export interface LocalCloudOptions {
  port?: number;
  host?: string;
  /** Where emulator state and the issuer key live. */
  dataDir: string;
  /** Keep emulator state in memory only (the issuer key still lives in dataDir). */
  inMemory?: boolean;
  /** Powertools log level of the functions (default WARN, so the console stays readable). */
  logLevel?: string;
  /** Run scheduled functions this often instead of their template rate (tests use it). */
  scheduleOverrideMs?: number;
  log?: (message: string) => void;
}

export interface LocalCloud {
  url: string;
  mcpUrl: string;
  platform: LocalPlatform;
  config: SwitchboardConfig;
  aws: Awaited<ReturnType<typeof startEmulators>>['aws'];
  invoke<T>(functionName: string, event: unknown): Promise<T>;
  stop(): Promise<void>;
}

/** Hostnames the local MCP endpoint accepts in `Host` (DNS-rebinding protection). */
export const LOCAL_ALLOWED_HOSTS = ['localhost', '127.0.0.1', '::1'];

/**
 * Starts Switchboard on this machine: the emulators, the resources and functions of the
 * synthesized CDK app, the API Gateway stand-in, queue pollers and schedules.
 */
export const startLocalCloud = async (options: LocalCloudOptions): Promise<LocalCloud> => {
  const log = options.log ?? ((message: string) => process.stderr.write(`[local] ${message}\n`));
  const host = options.host ?? '127.0.0.1';
  const issuerKey = await ensureIssuerKey(options.dataDir);
  // No CloudWatch here: Powertools metrics (EMF on stdout) stay off unless asked for.
  process.env['POWERTOOLS_METRICS_DISABLED'] ??= 'true';

  let gateway: ReturnType<typeof createApiGateway> | undefined;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? host}`);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration') return json(200, discoveryDocument(baseUrl));
    if (req.method === 'GET' && url.pathname === '/.well-known/jwks.json') return json(200, { keys: [issuerKey.publicJwk] });
    if (req.method === 'GET' && url.pathname === '/healthz') return json(gateway ? 200 : 503, { ready: Boolean(gateway) });
    if (!gateway) return json(503, { message: 'starting' });
    gateway(req, res, url)
      .then((handled) => (handled ? undefined : json(404, { message: `no route for ${req.method} ${url.pathname}` })))
      .catch((error: unknown) => {
        log(`request failed: ${String(error)}`);
        if (!res.headersSent) json(500, { message: 'Internal server error' });
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3000, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const projectConfig = readProjectConfig();
  // Same app, same config, except that tokens come from the local issuer.
  const config: SwitchboardConfig = {
    ...projectConfig,
    auth: { ...projectConfig.auth, issuer: LOCAL_ISSUER, jwksUri: `${baseUrl}/.well-known/jwks.json` },
  };
  const emulators = await startEmulators({ region: config.primaryRegion, ...(options.inMemory ? {} : { dataDir: options.dataDir }) });
  const stoppers: (() => Promise<void>)[] = [];
  try {
    log('synthesizing the CDK app');
    const platform = await provision(synthesizeTemplates(config), emulators.aws, config.primaryRegion, log);
    const functions = new LocalFunctions(config.primaryRegion);
    for (const fn of platform.functions.values()) {
      await functions.load(fn, emulators.aws, {
        POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'WARN',
        POWERTOOLS_DEV: 'true',
        [ENV.allowedHosts]: LOCAL_ALLOWED_HOSTS.join(','),
      });
    }
    const sqs = new SQSClient(emulators.aws.sqs ?? {});
    for (const source of platform.eventSources) {
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
    gateway = createApiGateway(platform, functions, config.primaryRegion);
    log(`${platform.functions.size} functions, ${platform.routes.length} routes, ${platform.eventSources.length} queue pollers`);
    return {
      url: baseUrl,
      mcpUrl: `${baseUrl}/mcp`,
      platform,
      config,
      aws: emulators.aws,
      invoke: (name, event) => functions.invoke(name, event),
      stop: async () => {
        await Promise.all(stoppers.map((stop) => stop()));
        await new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await emulators.stop();
      },
    };
  } catch (error) {
    await Promise.all(stoppers.map((stop) => stop()));
    server.close();
    await emulators.stop();
    throw error;
  }
};
