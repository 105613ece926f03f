import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { importJWK, SignJWT, type JWK } from 'jose';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCloud, type LocalCloud } from '../../bin/local-cloud/cloud';
import { CLIENTS_FILE } from '../../bin/local-cloud/identity-provider';
import { connectV1, connectV1WithOAuth, LocalSignInOAuthProvider, signInOnLocalPage, type ToolClient } from '../../bin/harness/mcp-clients';

/**
 * MCP authorization end to end on the local cloud (npm start's code, in-process): Protected
 * Resource Metadata and challenges, the local OpenID provider (client credentials, authorization
 * code + PKCE through discovery, as the SDK and the MCP Inspector do it), tokens the endpoint must
 * refuse, a missing scope, and no token in the logs (DEBUG, captured).
 */
let cloud: LocalCloud;
let dataDir: string;
/** Everything the cloud and its functions print while the tests run. */
let captured = '';
const restore: (() => void)[] = [];
/** Every access token the tests used (the log must hold none of them, nor their signatures). */
const used = new Set<string>();

const INSPECTOR_CALLBACK = 'http://localhost:6274/oauth/callback';

beforeAll(async () => {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      captured += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      return typeof rest.at(-1) === 'function' ? ((rest.at(-1) as () => void)(), true) : true;
    }) as typeof stream.write;
    restore.push(() => (stream.write = write));
  }
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[method];
    console[method] = (...args: unknown[]) => void (captured += `${args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' ')}\n`);
    restore.push(() => (console[method] = original));
  }
  dataDir = mkdtempSync(join(tmpdir(), 'switchboard-oauth-'));
  cloud = await startLocalCloud({
    port: 0,
    dataDir,
    log: (message) => void (captured += `[local] ${message}\n`),
    logLevel: 'DEBUG',
    adjustConfig: (config) => ({
      ...config,
      auth: {
        ...config.auth,
        cognito: {
          ...config.auth.cognito!,
          machineClients: [
            ...(config.auth.cognito?.machineClients ?? []),
            { name: 'acme-submitter', tenant: 'acme', roles: ['submitter'], scopes: ['tasks.read', 'tasks.write'] },
          ],
        },
      },
    }),
  });
}, 60_000);
afterAll(async () => {
  await cloud?.stop();
  for (const undo of restore) undo();
});

const post = (body: unknown, token?: string) =>
  fetch(cloud.mcpUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
const LIST_TOOLS = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
const prmUrl = () => `${cloud.url}/.well-known/oauth-protected-resource/mcp`;

const expectOk = async (client: ToolClient, tool: string, args: Record<string, unknown>) => {
  const result = await client.callTool(tool, args);
  expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
  return result.structuredContent as Record<string, unknown>;
};

describe('the endpoint is an OAuth resource server (RFC 9728)', () => {
  it('serves its Protected Resource Metadata at the root and path-suffixed forms', async () => {
    for (const url of [`${cloud.url}/.well-known/oauth-protected-resource`, prmUrl()]) {
      const response = await fetch(url);
      expect(response.status, url).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const metadata = (await response.json()) as { resource: string; authorization_servers: string[] };
      expect(metadata.resource).toBe(cloud.mcpUrl);
      expect(metadata.authorization_servers).toContain(cloud.issuer);
    }
  });

  it('answers a request without a token 401 with a challenge naming the metadata', async () => {
    const response = await post(LIST_TOOLS);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource(\/mcp)?"/);
  });

  it('points at an authorization server whose metadata MCP clients find (RFC 8414 and OIDC discovery)', async () => {
    for (const path of ['/.well-known/oauth-authorization-server/oidc', '/oidc/.well-known/openid-configuration']) {
      const response = await fetch(`${cloud.url}${path}`);
      expect(response.status, path).toBe(200);
      const metadata = (await response.json()) as Record<string, unknown>;
      expect(metadata).toMatchObject({ issuer: cloud.issuer, code_challenge_methods_supported: ['S256'] });
      expect(metadata['grant_types_supported']).toEqual(expect.arrayContaining(['authorization_code', 'client_credentials', 'refresh_token']));
      expect(metadata['registration_endpoint']).toBe(`${cloud.issuer}/reg`);
    }
  });
});

describe('OAuth clients connect through discovery', () => {
  it('a client-credentials client (a config machine client): tools/list, then submit_task as its tenant', async () => {
    const { clientId, clientSecret } = cloud.machineClients['acme-submitter']!;
    // The secret is generated once into the data folder, readable by its owner only.
    const file = join(dataDir, CLIENTS_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>)[clientId]).toBe(clientSecret);

    const provider = new ClientCredentialsProvider({ clientId, clientSecret, expectedIssuer: cloud.issuer });
    const client = await connectV1WithOAuth(cloud.mcpUrl, provider);
    used.add(provider.tokens()!.access_token);
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).toContain('submit_task');
    const { taskId } = await expectOk(client, 'submit_task', { capability: 'echo', input: 'from a machine' });
    expect((await expectOk(client, 'get_task', { taskId }))['tenantId'] ?? 'acme').toBe('acme');
    await client.close();
  });

  it('a wrong client secret gets no token', async () => {
    const provider = new ClientCredentialsProvider({ clientId: 'acme-submitter', clientSecret: 'not-the-secret', expectedIssuer: cloud.issuer });
    await expect(connectV1WithOAuth(cloud.mcpUrl, provider)).rejects.toThrow(/invalid_client|client authentication failed/i);
  });

  it('an authorization code + PKCE client registers itself (DCR, the Inspector redirect), signs in, connects, calls a tool', async () => {
    const provider = new LocalSignInOAuthProvider({ tenant: 'acme', user: 'carol', roles: ['submitter'] }, INSPECTOR_CALLBACK);
    const client = await connectV1WithOAuth(cloud.mcpUrl, provider);
    const tokens = provider.tokens()!;
    used.add(tokens.access_token);
    expect(tokens.refresh_token).toBeTruthy();
    const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({ iss: cloud.issuer, aud: cloud.mcpUrl, sub: 'carol@acme', tenant_id: 'acme', roles: ['submitter'] });
    const { taskId } = await expectOk(client, 'submit_task', { capability: 'echo', input: 'from a person' });
    expect(taskId).toBeTruthy();
    await client.close();

    // The refresh token gets a new access token the endpoint accepts.
    const refreshed = await fetch(`${cloud.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: provider.clientInformation()!.client_id, resource: cloud.mcpUrl }),
    });
    expect(refreshed.status).toBe(200);
    const { access_token: again } = (await refreshed.json()) as { access_token: string };
    used.add(again);
    expect(again).not.toBe(tokens.access_token);
    expect((await post(LIST_TOOLS, again)).status).toBe(200);
  });

  it("answers the MCP Inspector's browser requests (CORS from http://localhost:6274): discovery, registration, token", async () => {
    const origin = 'http://localhost:6274';
    const discovery = await fetch(`${cloud.url}/.well-known/oauth-authorization-server/oidc`, { headers: { origin } });
    expect(discovery.headers.get('access-control-allow-origin')).toBe(origin);
    for (const path of ['/reg', '/token']) {
      const preflight = await fetch(`${cloud.issuer}${path}`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      expect(preflight.status, path).toBeLessThan(300);
      expect(preflight.headers.get('access-control-allow-origin'), path).toBe(origin);
    }
    // Not for a page elsewhere.
    const elsewhere = await fetch(`${cloud.issuer}/reg`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(elsewhere.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses an authorization request without PKCE, or with the plain method', async () => {
    const registered = (await (
      await fetch(`${cloud.issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [INSPECTOR_CALLBACK], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'] }),
      })
    ).json()) as { client_id: string };
    for (const pkce of [{}, { code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' }]) {
      const url = new URL(`${cloud.issuer}/auth`);
      for (const [name, value] of Object.entries({ response_type: 'code', client_id: registered.client_id, redirect_uri: INSPECTOR_CALLBACK, resource: cloud.mcpUrl, ...pkce })) {
        url.searchParams.set(name, value);
      }
      const callback = await signInOnLocalPage(url, { tenant: 'acme', user: 'mallory', roles: ['submitter'] }, INSPECTOR_CALLBACK);
      expect(callback.searchParams.get('error'), JSON.stringify(pkce)).toBe('invalid_request');
      expect(callback.searchParams.get('code')).toBeNull();
    }
  });

  it('the sign-in page escapes what it echoes and refuses a bad tenant with a 400, no stack', async () => {
    const provider = new LocalSignInOAuthProvider({ tenant: '<script>alert(1)</script>', user: 'eve', roles: ['submitter'] }, INSPECTOR_CALLBACK);
    const error = await connectV1WithOAuth(cloud.mcpUrl, provider).then(() => undefined, (e: unknown) => e as Error);
    expect(error?.message).toMatch(/sign-in refused \(400\)/);
    expect(error?.message).not.toMatch(/<script>/);
    expect(error?.message).not.toMatch(/\bat .+:\d+:\d+/);
  });
});

describe('tokens the endpoint refuses (401)', () => {
  const signingKey = async () => {
    const jwk = JSON.parse(readFileSync(join(dataDir, 'issuer', 'signing-key.jwk.json'), 'utf8')) as JWK & { kid: string };
    return { kid: jwk.kid, key: await importJWK(jwk, 'ES256') };
  };
  const craft = async (overrides: { aud?: string; iss?: string; exp?: number }) => {
    const { kid, key } = await signingKey();
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ tenant_id: 'acme', roles: ['admin'], scope: 'switchboard/tasks.read switchboard/tasks.write' })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer(overrides.iss ?? cloud.issuer)
      .setAudience(overrides.aud ?? cloud.mcpUrl)
      .setSubject('forger@acme')
      .setIssuedAt(now - 7200)
      .setExpirationTime(overrides.exp ?? now + 600)
      .sign(key);
  };

  it('a token the same key signs is accepted (so the refusals below are about what they change)', async () => {
    const token = await craft({});
    used.add(token);
    expect((await post(LIST_TOOLS, token)).status).toBe(200);
  });

  it('wrong audience, expired, wrong issuer, alg none, tampered: 401 with the challenge', async () => {
    const good = await cloud.token({ tenant: 'acme', roles: ['viewer'] });
    const [header, payload, signature] = good.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const bad: Record<string, string> = {
      'wrong audience': await craft({ aud: `${cloud.url}/other` }),
      'another API': await craft({ aud: 'https://api.example.com/mcp' }),
      expired: await craft({ exp: Math.floor(Date.now() / 1000) - 3600 }),
      'wrong issuer': await craft({ iss: 'https://issuer.example.com/' }),
      'alg none': `${encode({ alg: 'none', typ: 'at+jwt' })}.${encode(claims)}.`,
      tampered: `${header}.${encode({ ...claims, tenant_id: 'globex', roles: ['admin'] })}.${signature}`,
    };
    for (const [what, token] of Object.entries(bad)) {
      used.add(token);
      const response = await post(LIST_TOOLS, token);
      expect(response.status, what).toBe(401);
      expect(response.headers.get('www-authenticate'), what).toMatch(/^Bearer .*resource_metadata="/);
      expect(await response.text(), what).not.toMatch(/\bat .+:\d+:\d+/);
    }
  });
});

describe('scopes', () => {
  it('a token without the scope of the tool it calls: 403 insufficient_scope naming the scope', async () => {
    const token = await cloud.token({ tenant: 'acme', roles: ['submitter'], scopes: ['tasks.read'] });
    used.add(token);
    const response = await post(
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'submit_task', arguments: { capability: 'echo', input: 'x' } } },
      token,
    );
    expect(response.status).toBe(403);
    const challenge = response.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer error="insufficient_scope"/);
    expect(challenge).toContain('scope="switchboard/tasks.write"');
    // The scope it has still works.
    const reader = await connectV1(cloud.mcpUrl, token);
    expect((await reader.callTool('list_tasks', {})).isError).toBeFalsy();
    await reader.close();
  });
});

describe('logs', () => {
  it('hold no token, nor any token signature, after all of the above at DEBUG', () => {
    expect(used.size).toBeGreaterThanOrEqual(8);
    // The functions' logs (level DEBUG, so all of them) were captured at all, else this test could not fail.
    expect(captured).toMatch(/"level":"(DEBUG|INFO)".*"service":"authorizer"/);
    // The provider starts and runs quiet: no development-only warnings, no notices, no stack traces.
    expect(captured).not.toMatch(/oidc-provider (WARNING|NOTICE)/);
    expect(captured).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    for (const token of used) {
      const signature = token.split('.')[2]!;
      expect(captured.includes(token)).toBe(false);
      if (signature.length > 0) expect(captured.includes(signature)).toBe(false);
    }
  });
});
