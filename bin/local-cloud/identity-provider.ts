import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import Provider, { errors, type Adapter, type AdapterPayload, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { ALL_SCOPES, IssuerSchema, scopeOf, type IssuerSettings, type ScopeFamily } from '../../lambdas/contracts/auth';
import { TenantIdSchema } from '../../lambdas/contracts/tenant';
import { ROLES } from '../../lambdas/domain/principal';

export { DEFAULT_BASE_URL } from './local-defaults';

/**
 * The local identity provider: a real OpenID provider (`oidc-provider`) mounted at `/oidc` in the
 * local cloud's HTTP server. Discovery, JWKS, client credentials (the config's machine clients),
 * authorization code + PKCE (S256) with a local login page, refresh tokens, dynamic client
 * registration and resource indicators: its access tokens are ES256 JWTs whose `aud` is the MCP
 * endpoint and which carry the tenant, the roles and the scopes. The token CLI signs the same
 * tokens with the same key (`signLocalToken`).
 */

export const ISSUER_PATH = '/oidc';
const ALG = 'ES256';
/** The client_id of tokens signed by the token CLI (`npm run token`) and `cloud.token()`. */
export const TOKEN_CLI_CLIENT_ID = 'switchboard-token-cli';
/** The local console's public client (authorization code + PKCE, no secret): bin/local-cloud/console/, docs/console.md. */
export const CONSOLE_CLIENT_ID = 'switchboard-console';
/** Where the console's sign-in comes back: the console page itself, on the loopback names of the base URL. */
export const consoleRedirectUris = (baseUrl: string): string[] => {
  const page = `${baseUrl}/console/`;
  const url = new URL(page);
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') return [page];
  return ['127.0.0.1', 'localhost'].map((host) => Object.assign(new URL(page), { hostname: host }).href);
};
/** Tokens last this long unless asked otherwise (`npm run token -- --ttl SECONDS`). */
export const DEFAULT_TOKEN_TTL_SECONDS = 3600;

export const localIssuerOf = (baseUrl: string) => `${baseUrl}${ISSUER_PATH}`;
export const localResourceOf = (baseUrl: string) => `${baseUrl}/mcp`;
/** The issuer entry of the local cloud's `auth.issuers`: the provider, its JWKS, the default claims. */
export const localIssuerSettings = (baseUrl: string): IssuerSettings =>
  IssuerSchema.parse({ issuer: localIssuerOf(baseUrl), jwksUri: `${localIssuerOf(baseUrl)}/jwks` });

// ---------------------------------------------------------------------------------------------
// The signing key: one file shared by `npm start` and the token CLI.

export interface IssuerKey {
  kid: string;
  privateJwk: JWK & { kid: string };
}

const generatePrivateJwk = async (): Promise<JWK & { kid: string }> => {
  const { privateKey } = await generateKeyPair(ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: ALG, use: 'sig' };
};

/** Writes `text` to `file` (0600) whole or not at all: a reader never sees half of it. */
const writeAtomically = (file: string, text: string) => {
  const temporary = `${file}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(temporary, text, { mode: 0o600 });
  renameSync(temporary, file);
};

/** A fresh signing key that lives in this process only (`npm start -- --in-memory`). */
export const createIssuerKey = async (): Promise<IssuerKey> => {
  const privateJwk = await generatePrivateJwk();
  return { kid: privateJwk.kid, privateJwk };
};

/**
 * The local issuer's ES256 signing key, kept in `<dataDir>/issuer/signing-key.jwk.json` (0600) so
 * the token CLI and `npm start` share it across restarts. Created on first use.
 */
export const ensureIssuerKey = async (dataDir: string): Promise<IssuerKey> => {
  const dir = join(dataDir, 'issuer');
  const file = join(dir, 'signing-key.jwk.json');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Two processes racing here each write a whole key; the last rename wins and both re-read it.
    writeAtomically(file, JSON.stringify(await generatePrivateJwk()));
  }
  const privateJwk = JSON.parse(readFileSync(file, 'utf8')) as JWK & { kid: string };
  return { kid: privateJwk.kid, privateJwk: { ...privateJwk, alg: ALG, use: 'sig' } };
};

// ---------------------------------------------------------------------------------------------
// Machine clients (auth.cognito.machineClients: Cognito app clients on AWS, confidential clients here).

export interface LocalMachineClient {
  name: string;
  tenant: string;
  roles: readonly string[];
  scopes?: readonly ScopeFamily[] | undefined;
}

export const CLIENTS_FILE = join('identity', 'clients.json');

/**
 * The machine clients' secrets (`{ "<name>": "<secret>" }`): generated once into
 * `<dataDir>/identity/clients.json` (0600), or in memory when `dataDir` is undefined.
 */
export const ensureClientSecrets = (dataDir: string | undefined, names: readonly string[]): Record<string, string> => {
  const file = dataDir === undefined ? undefined : join(dataDir, CLIENTS_FILE);
  const stored: Record<string, string> = file && existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>) : {};
  const missing = names.filter((name) => typeof stored[name] !== 'string');
  for (const name of missing) stored[name] = randomBytes(32).toString('base64url');
  if (file && missing.length) {
    mkdirSync(join(dataDir!, 'identity'), { recursive: true, mode: 0o700 });
    writeAtomically(file, `${JSON.stringify(stored, null, 2)}\n`);
  }
  return Object.fromEntries(names.map((name) => [name, stored[name]!]));
};

// ---------------------------------------------------------------------------------------------
// Tokens as the provider issues them (the token CLI, cloud.token()).

export interface TokenRequest {
  tenant: string;
  roles: readonly string[];
  subject?: string | undefined;
  /** Scope families; default every family. */
  scopes?: readonly ScopeFamily[] | undefined;
  ttlSeconds?: number | undefined;
}

/** Signs an access token as the local provider would: same key, issuer, audience and claims. */
export const signLocalToken = async (key: IssuerKey, baseUrl: string, request: TokenRequest): Promise<string> => {
  const settings = localIssuerSettings(baseUrl);
  const scope = (request.scopes ? request.scopes.map(scopeOf) : ALL_SCOPES).join(' ');
  return new SignJWT({ [settings.tenantClaim]: request.tenant, [settings.rolesClaim]: [...request.roles], [settings.scopeClaim]: scope, client_id: TOKEN_CLI_CLIENT_ID })
    .setProtectedHeader({ alg: ALG, kid: key.kid, typ: 'at+jwt' })
    .setIssuer(settings.issuer)
    .setAudience(localResourceOf(baseUrl))
    .setSubject(request.subject ?? `local-user@${request.tenant}`)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime(`${request.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS}s`)
    .sign(await importJWK(key.privateJwk, ALG));
};

// ---------------------------------------------------------------------------------------------
// The provider.

/** oidc-provider's storage, in this process (its own memory adapter announces itself on stderr). */
const memoryAdapterFactory = () => {
  const store = new Map<string, { payload: AdapterPayload; expiresAt: number }>();
  const live = (key: string) => {
    const entry = store.get(key);
    if (entry && entry.expiresAt <= Date.now()) store.delete(key);
    return store.get(key)?.payload;
  };
  let writes = 0;
  return (model: string): Adapter => ({
    upsert: async (id, payload, expiresIn) => {
      // A long `npm start` forgets what expired: sweep now and then.
      if (++writes % 200 === 0) for (const key of [...store.keys()]) live(key);
      store.set(`${model}:${id}`, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    },
    find: async (id) => live(`${model}:${id}`),
    findByUid: async (uid) => [...store.entries()].find(([key, entry]) => key.startsWith(`${model}:`) && entry.payload.uid === uid && live(key))?.[1].payload,
    findByUserCode: async (userCode) =>
      [...store.entries()].find(([key, entry]) => key.startsWith(`${model}:`) && entry.payload.userCode === userCode && live(key))?.[1].payload,
    consume: async (id) => {
      const payload = live(`${model}:${id}`);
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    },
    destroy: async (id) => void store.delete(`${model}:${id}`),
    revokeByGrantId: async (grantId) => {
      for (const [key, entry] of store) if (entry.payload.grantId === grantId) store.delete(key);
    },
  });
};

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_FORM_BYTES = 16 * 1024;

const page = (title: string, body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}label{display:block;margin:.4rem 0}
.local{background:#fff3cd;padding:.5rem;border:1px solid #e0c060}.error{color:#a00}</style></head>
<body>${body}</body></html>
`;

const sendHtml = (res: ServerResponse, status: number, html: string) => {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(Buffer.byteLength(html)),
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  });
  res.end(html);
};

interface LoginView {
  uid: string;
  clientName: string;
  scopes: string[];
  error?: string;
  tenant?: string;
  user?: string;
  roles?: readonly string[];
}

const loginPage = (view: LoginView) =>
  page(
    'Switchboard local sign-in',
    `<h1>Switchboard: local sign-in</h1>
<p class="local">Local development only: no password, whoever reaches this page on this machine signs in as anyone. On AWS, Cognito (or your identity provider) signs people in.</p>
<p><strong>${escapeHtml(view.clientName)}</strong> asks for: <code>${escapeHtml(view.scopes.join(' ') || '(no scope)')}</code></p>
${view.error ? `<p class="error">${escapeHtml(view.error)}</p>` : ''}
<form method="post" action="${ISSUER_PATH}/interaction/${escapeHtml(view.uid)}/login">
<label>Tenant <input name="tenant" required value="${escapeHtml(view.tenant ?? 'acme')}"></label>
<label>User name <input name="user" required value="${escapeHtml(view.user ?? 'alice')}"></label>
<fieldset><legend>Roles</legend>
${ROLES.map((role) => `<label><input type="checkbox" name="roles" value="${role}"${(view.roles ?? ['submitter']).includes(role) ? ' checked' : ''}> ${role}</label>`).join('\n')}
</fieldset>
<p><button type="submit">Sign in</button> (the requested scopes are granted at once)</p>
</form>`,
  );

const readForm = async (req: IncomingMessage): Promise<URLSearchParams | undefined> => {
  if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
};

interface Account {
  tenant: string;
  roles: string[];
}

export interface IdentityProviderOptions {
  baseUrl: string;
  key: IssuerKey;
  machineClients: readonly LocalMachineClient[];
  /** name → secret (ensureClientSecrets). */
  secrets: Record<string, string>;
  log: (message: string) => void;
}

export interface IdentityProvider {
  issuer: string;
  settings: IssuerSettings;
  /** Answers the request if it is the provider's (`/oidc/…`, the root's RFC 8414 and OIDC discovery forms); false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
}

const isLoopbackOrigin = (origin: string) => {
  const parsed = URL.parse(origin);
  return parsed !== null && parsed.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname);
};

export const createIdentityProvider = (options: IdentityProviderOptions): IdentityProvider => {
  const issuer = localIssuerOf(options.baseUrl);
  const resource = localResourceOf(options.baseUrl);
  const settings = localIssuerSettings(options.baseUrl);
  const machines = new Map(options.machineClients.map((client) => [client.name, client]));
  /** Who signed in on the login page: accountId (`user@tenant`) → tenant and roles (the last sign-in's). */
  const accounts = new Map<string, Account>();
  const allowedScopes = (clientId: string | undefined) => {
    const machine = clientId === undefined ? undefined : machines.get(clientId);
    return machine?.scopes ? machine.scopes.map(scopeOf) : [...ALL_SCOPES];
  };
  const ttl = { AccessToken: 3600, AuthorizationCode: 60, ClientCredentials: 3600, IdToken: 3600, RefreshToken: 14 * 24 * 3600, Interaction: 3600, Session: 14 * 24 * 3600, Grant: 14 * 24 * 3600 };

  const configuration: Configuration = {
    adapter: memoryAdapterFactory(),
    jwks: { keys: [options.key.privateJwk as never] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    clients: [
      ...options.machineClients.map((client) => ({
        client_id: client.name,
        client_secret: options.secrets[client.name]!,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic' as const,
      })),
      // The local console signs people in from its page: a public client (PKCE, no secret), its page as the only redirect.
      {
        client_id: CONSOLE_CLIENT_ID,
        client_name: 'Switchboard console (local)',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: consoleRedirectUris(options.baseUrl),
        token_endpoint_auth_method: 'none' as const,
      },
    ],
    clientDefaults: { grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], id_token_signed_response_alg: ALG, token_endpoint_auth_method: 'client_secret_basic' },
    enabledJWA: { idTokenSigningAlgValues: [ALG], userinfoSigningAlgValues: [ALG], introspectionSigningAlgValues: [ALG], authorizationSigningAlgValues: [ALG] },
    responseTypes: ['code'],
    // The resource server's scopes are listed too: MCP clients register with them (DCR `scope`, from PRM).
    scopes: ['openid', 'offline_access', ...ALL_SCOPES],
    claims: { openid: ['sub'], tenant: [settings.tenantClaim, settings.rolesClaim] },
    pkce: { required: () => true },
    ttl,
    clientBasedCORS: (_ctx, origin) => isLoopbackOrigin(origin),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      registration: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator, client) => {
          if (indicator !== resource) throw new errors.InvalidTarget(`the only resource here is ${resource}`);
          return {
            scope: allowedScopes(client.clientId).join(' '),
            audience: resource,
            accessTokenFormat: 'jwt',
            accessTokenTTL: ttl.AccessToken,
            jwt: { sign: { alg: ALG } },
          };
        },
      },
    },
    interactions: { url: (_ctx, interaction) => `${ISSUER_PATH}/interaction/${interaction.uid}` },
    findAccount: (_ctx, id) => {
      const account = accounts.get(id);
      if (!account) return undefined;
      return { accountId: id, claims: () => ({ sub: id, [settings.tenantClaim]: account.tenant, [settings.rolesClaim]: account.roles }) };
    },
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: () => false,
    extraTokenClaims: (_ctx, token) => {
      const accountId = 'accountId' in token ? (token.accountId as string | undefined) : undefined;
      const account = accountId ? accounts.get(accountId) : undefined;
      if (account) return { [settings.tenantClaim]: account.tenant, [settings.rolesClaim]: account.roles };
      const machine = machines.get(token.clientId ?? '');
      if (machine) return { [settings.tenantClaim]: machine.tenant, [settings.rolesClaim]: [...machine.roles] };
      return undefined;
    },
    formats: {
      customizers: {
        // Cognito's client credentials without a scope get every scope the client may have: so here.
        jwt: (_ctx, token, jwt) => {
          if (token.kind === 'ClientCredentials' && !jwt.payload['scope']) jwt.payload['scope'] = allowedScopes(token.clientId).join(' ');
        },
      },
    },
    renderError: (ctx: KoaContextWithOIDC, out) => {
      ctx.type = 'html';
      ctx.body = page('Sign-in error', `<h1>Sign-in error</h1><p><code>${escapeHtml(String(out['error'] ?? 'error'))}</code>: ${escapeHtml(String(out['error_description'] ?? ''))}</p>`);
    },
  };
  const provider = new Provider(issuer, configuration);
  // Koa would print every error it sees: the provider answers them itself (an OAuth error), and a
  // bug of ours is one line in the log, never a stack to the client.
  (provider as unknown as { silent: boolean }).silent = true;
  provider.on('server_error', (_ctx: unknown, error: Error) => options.log(`identity provider: ${error.message}`));
  const callback = provider.callback();

  const forward = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    const query = req.url?.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = `${ISSUER_PATH}${path}${query}`;
    req.url = `${path}${query}`;
    await callback(req, res);
  };

  const interaction = async (req: IncomingMessage, res: ServerResponse, uid: string, action: string | undefined) => {
    let details: Awaited<ReturnType<Provider['interactionDetails']>>;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      sendHtml(res, 400, page('Sign-in expired', '<h1>This sign-in has expired or was opened elsewhere</h1><p>Start again from your MCP client.</p>'));
      return;
    }
    if (details.uid !== uid) return sendHtml(res, 400, page('Sign-in mismatch', '<h1>This sign-in does not match the page</h1>'));
    const params = details.params as { client_id?: string; scope?: string };
    const client = params.client_id ? await provider.Client.find(params.client_id) : undefined;
    const view = { uid, clientName: client?.clientName ?? params.client_id ?? 'a client', scopes: (params.scope ?? '').split(' ').filter(Boolean) };

    if (details.prompt.name === 'login') {
      if (req.method === 'GET' && action === undefined) return sendHtml(res, 200, loginPage(view));
      if (req.method !== 'POST' || action !== 'login') return sendHtml(res, 405, page('Not allowed', '<h1>Not allowed</h1>'));
      const form = await readForm(req);
      if (!form) return sendHtml(res, 400, loginPage({ ...view, error: 'send the form as application/x-www-form-urlencoded, at most 16 KiB' }));
      const tenant = TenantIdSchema.safeParse(form.get('tenant') ?? '');
      const user = form.get('user') ?? '';
      const roles = [...new Set(form.getAll('roles'))];
      const values = { tenant: form.get('tenant') ?? '', user, roles };
      if (!tenant.success) return sendHtml(res, 400, loginPage({ ...view, ...values, error: `Tenant: ${tenant.error.issues[0]?.message ?? 'invalid'}` }));
      if (!USER_NAME.test(user)) return sendHtml(res, 400, loginPage({ ...view, ...values, error: 'User name: 1 to 64 letters, digits, dots, dashes or underscores' }));
      const unknown = roles.filter((role) => !(ROLES as readonly string[]).includes(role));
      if (unknown.length || !roles.length) return sendHtml(res, 400, loginPage({ ...view, ...values, error: 'Roles: tick at least one of the listed roles' }));
      const accountId = `${user}@${tenant.data}`;
      accounts.set(accountId, { tenant: tenant.data, roles });
      await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
      return;
    }
    if (details.prompt.name === 'consent') {
      // Local: consent is granted for what was asked (the resource server's scopes the client may have).
      const { accountId } = details.session ?? {};
      if (!accountId || !params.client_id) return sendHtml(res, 400, page('Sign-in error', '<h1>No signed-in user for this request</h1>'));
      const grant = details.grantId ? ((await provider.Grant.find(details.grantId)) ?? new provider.Grant({ accountId, clientId: params.client_id })) : new provider.Grant({ accountId, clientId: params.client_id });
      const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    sendHtml(res, 400, page('Sign-in error', `<h1>Unsupported step ${escapeHtml(details.prompt.name)}</h1>`));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const path = url.pathname;
    // RFC 8414 (and the OIDC form MCP clients also try) for an issuer with a path: the suffix at the root.
    if (path === `/.well-known/oauth-authorization-server${ISSUER_PATH}` || path === `/.well-known/openid-configuration${ISSUER_PATH}`) {
      await forward(req, res, '/.well-known/openid-configuration');
      return true;
    }
    if (path !== ISSUER_PATH && !path.startsWith(`${ISSUER_PATH}/`)) return false;
    const inner = path.slice(ISSUER_PATH.length) || '/';
    const match = /^\/interaction\/([A-Za-z0-9_-]{1,64})(?:\/(login))?$/.exec(inner);
    if (match) {
      await interaction(req, res, match[1]!, match[2]);
      return true;
    }
    // oidc-provider answers CORS on discovery, JWKS and the token endpoint; a browser client (the
    // MCP Inspector's UI) also registers itself from its page: allow that for loopback origins.
    const origin = req.headers.origin;
    if (inner === '/reg' && origin && isLoopbackOrigin(origin)) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('vary', 'origin');
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { 'access-control-allow-methods': 'POST', 'access-control-allow-headers': 'content-type, authorization', 'access-control-max-age': '600' });
        res.end();
        return true;
      }
    }
    await forward(req, res, inner);
    return true;
  };

  return { issuer, settings, handle };
};
