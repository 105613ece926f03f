import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidTokenError, type VerifiedToken } from '../../../lambdas/adapters/jwt-verifier';
import type { Role } from '../../../lambdas/domain/principal';
import { PROJECT_ROOT } from '../../../lib/constructs/switchboard-function';
import type { PlatformViews } from './platform-views';

/**
 * The local console (docs/console.md): a page for operators at `/console/`, its static files and the
 * vendored ES modules (preact, htm, uPlot from node_modules: no CDN, no bundler), and the JSON
 * endpoints under `/console/api/` for what MCP does not expose (queues, agents' circuits), which
 * take the signed-in user's bearer token and check the role. Tenant data is read by the page
 * itself through the MCP endpoint with the same token. LOCAL ONLY: `npm start` serves it.
 */

export const CONSOLE_PATH = '/console';

const HERE = dirname(fileURLToPath(import.meta.url));
const MODULES = join(PROJECT_ROOT, 'node_modules');

/** What the page may load: its own files and the vendored modules, by URL; nothing else is read from disk. */
const STATIC_FILES: Record<string, { file: string; type: string }> = {
  'app.js': { file: join(HERE, 'app.js'), type: 'text/javascript; charset=utf-8' },
  'console.css': { file: join(HERE, 'console.css'), type: 'text/css; charset=utf-8' },
  'vendor/preact.mjs': { file: join(MODULES, 'preact', 'dist', 'preact.mjs'), type: 'text/javascript; charset=utf-8' },
  'vendor/hooks.mjs': { file: join(MODULES, 'preact', 'hooks', 'dist', 'hooks.mjs'), type: 'text/javascript; charset=utf-8' },
  'vendor/htm.mjs': { file: join(MODULES, 'htm', 'dist', 'htm.mjs'), type: 'text/javascript; charset=utf-8' },
  'vendor/uPlot.esm.js': { file: join(MODULES, 'uplot', 'dist', 'uPlot.esm.js'), type: 'text/javascript; charset=utf-8' },
  'vendor/uPlot.min.css': { file: join(MODULES, 'uplot', 'dist', 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

/** Bare specifiers → the vendored files (the browser resolves `import { h } from 'preact'` with it). */
const IMPORT_MAP = JSON.stringify({
  imports: {
    preact: `${CONSOLE_PATH}/vendor/preact.mjs`,
    'preact/hooks': `${CONSOLE_PATH}/vendor/hooks.mjs`,
    htm: `${CONSOLE_PATH}/vendor/htm.mjs`,
    uplot: `${CONSOLE_PATH}/vendor/uPlot.esm.js`,
  },
});

/** Who may read each console endpoint: the platform-wide views are the operator's. */
const API_ROLES: Record<string, readonly Role[]> = {
  queues: ['operator'],
  agents: ['operator'],
};

export interface ConsoleOptions {
  /** The MCP endpoint the page calls with the user's token. */
  mcpUrl: string;
  /** The local provider's issuer and the console's public client. */
  issuer: string;
  clientId: string;
  /** The token claims that carry the tenant and the roles (the issuer's settings): the page shows who signed in. */
  tenantClaim: string;
  rolesClaim: string;
  /** Verifies `Authorization: Bearer …` as the endpoint's authorizer does (issuer, signature, audience). */
  verify: (authorization: string | undefined) => Promise<VerifiedToken>;
  views: PlatformViews;
}

const send = (res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)), 'x-content-type-options': 'nosniff', ...headers });
  res.end(body);
};
const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  send(res, status, 'application/json', JSON.stringify(body), { 'cache-control': 'no-store', ...headers });

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const pageOf = (options: ConsoleOptions) => {
  const config = JSON.stringify({
    mcpUrl: options.mcpUrl,
    issuer: options.issuer,
    clientId: options.clientId,
    tenantClaim: options.tenantClaim,
    rolesClaim: options.rolesClaim,
  });
  const importMapHash = createHash('sha256').update(IMPORT_MAP).digest('base64');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchboard console (local)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${CONSOLE_PATH}/vendor/uPlot.min.css"><link rel="stylesheet" href="${CONSOLE_PATH}/console.css">
<script type="importmap">${IMPORT_MAP}</script>
<script type="module" src="${CONSOLE_PATH}/app.js"></script>
</head>
<body data-config="${escapeHtml(config)}"><main id="app"><p>Loading the console…</p></main>
<noscript>The console needs JavaScript.</noscript></body></html>
`;
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${importMapHash}'`,
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
};

export interface Console {
  /** Answers the request if it is the console's (`/console`, `/console/…`); false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
}

export const createConsole = (options: ConsoleOptions): Console => {
  const page = pageOf(options);
  const files = new Map<string, Buffer>();
  const fileOf = (name: string) => {
    let body = files.get(name);
    if (!body) files.set(name, (body = readFileSync(STATIC_FILES[name]!.file)));
    return body;
  };

  const api = async (req: IncomingMessage, res: ServerResponse, view: string) => {
    // Own keys only: `constructor`, `__proto__` … name no endpoint (a plain lookup would find Object.prototype's).
    const roles = Object.hasOwn(API_ROLES, view) ? API_ROLES[view] : undefined;
    if (!roles) return sendJson(res, 404, { message: `no console endpoint ${view.slice(0, 100)}` });
    if (req.method !== 'GET') return sendJson(res, 405, { message: 'Method Not Allowed: GET only' }, { allow: 'GET' });
    let token: VerifiedToken;
    try {
      token = await options.verify(req.headers.authorization);
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      return sendJson(res, 401, { message: `Unauthorized: ${error.reason}` }, { 'www-authenticate': 'Bearer' });
    }
    if (!token.principal.roles.some((role) => roles.includes(role))) {
      return sendJson(res, 403, { message: `Forbidden: the console's ${view} need the role ${roles.join(' or ')}` });
    }
    const at = new Date().toISOString();
    if (view === 'queues') return sendJson(res, 200, { at, queues: await options.views.queues() });
    return sendJson(res, 200, { at, agents: await options.views.agents() });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const path = url.pathname;
    if (path !== CONSOLE_PATH && !path.startsWith(`${CONSOLE_PATH}/`)) return false;
    const inner = path.slice(CONSOLE_PATH.length + 1);
    if (inner.startsWith('api/')) {
      await api(req, res, inner.slice('api/'.length));
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { message: 'Method Not Allowed: GET only' }, { allow: 'GET, HEAD' });
      return true;
    }
    if (path === CONSOLE_PATH) {
      // One address for the page (the sign-in's redirect URI): /console/.
      res.writeHead(308, { location: `${CONSOLE_PATH}/${url.search}`, 'content-length': '0' });
      res.end();
      return true;
    }
    if (inner === '' || inner === 'index.html') {
      send(res, 200, 'text/html; charset=utf-8', page.html, {
        'cache-control': 'no-store',
        'content-security-policy': page.csp,
        'referrer-policy': 'no-referrer',
      });
      return true;
    }
    if (!Object.hasOwn(STATIC_FILES, inner)) {
      sendJson(res, 404, { message: `no console file ${inner.slice(0, 100)}` });
      return true;
    }
    send(res, 200, STATIC_FILES[inner]!.type, fileOf(inner), { 'cache-control': 'no-cache' });
    return true;
  };

  return { handle };
};
