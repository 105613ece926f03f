import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2, type FetchLike } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';

export type Era = '2025-11-25' | '2026-07-28';

/** A tools-only view of a connected client, whatever its SDK. */
export interface ToolClient {
  listTools(): Promise<{ tools: { name: string; inputSchema: unknown }[] }>;
  callTool(name: string, args: Record<string, unknown>): Promise<{ isError?: boolean; structuredContent?: unknown; content?: unknown; _meta?: Record<string, unknown> }>;
  close(): Promise<void>;
}

const clientInfo = { name: 'switchboard-tests', version: '1.0.0' };

/** The v2 SDK client (`@modelcontextprotocol/client`) pinned to one era. */
export const connectV2 = async (url: string, token: string, era: Era, fetch?: FetchLike): Promise<ToolClient> => {
  const client = new ClientV2(clientInfo, {
    versionNegotiation: { mode: era === '2026-07-28' ? { pin: '2026-07-28' } : 'legacy' },
  });
  const transport = new TransportV2(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } }, ...(fetch ? { fetch } : {}) });
  await client.connect(transport);
  return {
    listTools: () => client.listTools() as ReturnType<ToolClient['listTools']>,
    callTool: (name, args) => client.callTool({ name, arguments: args }) as ReturnType<ToolClient['callTool']>,
    close: () => client.close(),
  };
};

/** The v1 SDK client (`@modelcontextprotocol/sdk`), which speaks 2025-11-25. */
export const connectV1 = async (url: string, token: string, fetch?: FetchLike): Promise<ToolClient> => {
  const client = new ClientV1(clientInfo);
  const transport = new TransportV1(new URL(url), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
    ...(fetch ? { fetch: fetch as never } : {}),
  });
  await client.connect(transport);
  return {
    listTools: () => client.listTools() as ReturnType<ToolClient['listTools']>,
    callTool: (name, args) => client.callTool({ name, arguments: args }) as ReturnType<ToolClient['callTool']>,
    close: () => client.close(),
  };
};

/** Polls get_task until the task reaches a terminal status. */
export const waitForTerminal = (client: ToolClient, taskId: string, timeoutMs = 20_000) =>
  waitForStatus(client, taskId, ['succeeded', 'failed', 'cancelled'], timeoutMs);

/** Polls get_task until the task's status is one of `statuses`; the task view (structuredContent). */
export const waitForStatus = async (client: ToolClient, taskId: string, statuses: readonly string[], timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await client.callTool('get_task', { taskId });
    const task = result.structuredContent as { status: string; result?: unknown; error?: { code: string; message: string }; [key: string]: unknown };
    if (statuses.includes(task.status)) return task;
    if (Date.now() > deadline) throw new Error(`task ${taskId} still ${task.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** What a person types on the local provider's sign-in page. */
export interface LocalSignIn {
  tenant: string;
  user: string;
  roles: readonly string[];
}

/**
 * Plays the browser on the local provider (bin/local-cloud/identity-provider.ts): opens the
 * authorization URL, fills the sign-in form, follows the redirects (cookies kept) and returns the
 * client's callback URL with its `code` (or `error`). A form the page rejects is an error here.
 */
export const signInOnLocalPage = async (authorizationUrl: URL | string, signIn: LocalSignIn, redirectPrefix: string): Promise<URL> => {
  const jar = new Map<string, string>();
  const go = async (url: string, init: RequestInit = {}) => {
    const response = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string> | undefined), cookie: [...jar].map(([name, value]) => `${name}=${value}`).join('; ') },
    });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const at = pair.indexOf('=');
      jar.set(pair.slice(0, at), pair.slice(at + 1));
    }
    return response;
  };
  let url = new URL(authorizationUrl);
  for (let hops = 0; hops < 10; hops++) {
    if (url.href.startsWith(redirectPrefix)) return url;
    const response = await go(url.href);
    const location = response.headers.get('location');
    if (location) {
      url = new URL(location, url);
      continue;
    }
    const page = await response.text();
    const action = /<form method="post" action="([^"]+)"/.exec(page)?.[1];
    if (response.status !== 200 || !action) throw new Error(`sign-in: ${response.status} at ${url.pathname}, no form: ${page.slice(0, 300)}`);
    const form = new URLSearchParams([['tenant', signIn.tenant], ['user', signIn.user], ...signIn.roles.map((role) => ['roles', role] as [string, string])]);
    const posted = await go(new URL(action.replaceAll('&amp;', '&'), url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    });
    const next = posted.headers.get('location');
    if (!next) throw new Error(`sign-in refused (${posted.status}): ${(await posted.text()).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)}`);
    url = new URL(next, url);
  }
  throw new Error('sign-in: too many redirects');
};

/**
 * An OAuth client of the v1 SDK for the authorization code + PKCE flow, as the MCP Inspector is:
 * it registers itself (DCR, public client), and `redirectToAuthorization` signs in on the local
 * page at once, keeping the code for `transport.finishAuth(code)`.
 */
export class LocalSignInOAuthProvider implements OAuthClientProvider {
  private information: OAuthClientInformationMixed | undefined;
  private saved: OAuthTokens | undefined;
  private verifier = '';
  /** The code of the last sign-in (after `connect` fails with UnauthorizedError). */
  code: string | undefined;

  constructor(
    private readonly signIn: LocalSignIn,
    readonly redirectUrl = 'http://localhost:6274/oauth/callback',
  ) {}

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'switchboard-tests (authorization code)',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.information;
  }
  saveClientInformation(information: OAuthClientInformationMixed) {
    this.information = information;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
  async redirectToAuthorization(authorizationUrl: URL) {
    const callback = await signInOnLocalPage(authorizationUrl, this.signIn, this.redirectUrl);
    const code = callback.searchParams.get('code');
    if (!code) throw new Error(`no code at the callback: ${callback.search}`);
    this.code = code;
  }
}

/** The v1 SDK client connected with an OAuth provider (client credentials, or code + PKCE after its sign-in). */
export const connectV1WithOAuth = async (url: string, authProvider: OAuthClientProvider): Promise<ToolClient> => {
  const client = new ClientV1(clientInfo);
  const transport = new TransportV1(new URL(url), { authProvider });
  try {
    await client.connect(transport);
  } catch (error) {
    // The code flow: the provider signed in (redirectToAuthorization); exchange the code, connect again.
    const signingIn = authProvider instanceof LocalSignInOAuthProvider ? authProvider : undefined;
    const code = signingIn?.code;
    if (!(error instanceof UnauthorizedError) || !signingIn || !code) throw error;
    signingIn.code = undefined;
    await transport.finishAuth(code);
    return connectV1WithOAuth(url, authProvider);
  }
  return {
    listTools: () => client.listTools() as ReturnType<ToolClient['listTools']>,
    callTool: (name, args) => client.callTool({ name, arguments: args }) as ReturnType<ToolClient['callTool']>,
    close: () => client.close(),
  };
};
