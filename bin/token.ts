#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { SCOPE_FAMILIES, type ScopeFamily } from '../lambdas/contracts/auth';
import { ROLES } from '../lambdas/domain/principal';
import { TenantIdSchema } from '../lambdas/domain/task';
import { CLIENTS_FILE, DEFAULT_BASE_URL, DEFAULT_TOKEN_TTL_SECONDS, ensureClientSecrets, ensureIssuerKey, signLocalToken } from './local-cloud/identity-provider';
import { readProjectConfig } from './local-cloud/synth';

const FAMILIES = Object.keys(SCOPE_FAMILIES) as ScopeFamily[];

const usage = `Usage: npm run -s token -- --tenant <id> [--roles r1,r2] [--scopes f1,f2] [--subject s] [--ttl seconds] [--url URL] [--data-dir dir]
       npm run -s token -- --client <name> [--data-dir dir]
Prints an access token signed as the local OpenID provider of \`npm start\` signs them (same key, issuer
<url>/oidc, audience <url>/mcp), for \`npm start\` on --url (default ${DEFAULT_BASE_URL}); not for
\`npm start -- --in-memory\`, whose key lives in its process (it prints a token itself).
Roles: ${ROLES.join(', ')}. Scopes (families, default all): ${FAMILIES.join(', ')}.
The token is valid for --ttl seconds: ${DEFAULT_TOKEN_TTL_SECONDS} (one hour) by default, at most 604800 (7 days).
--client prints a machine client's id and secret (config auth.cognito.machineClients; kept in <data-dir>/${CLIENTS_FILE}):
use them with the client credentials grant at <url>/oidc/token.`;

const list = (value: string) => value.split(',').map((item) => item.trim()).filter(Boolean);

const main = async () => {
  const { values } = parseArgs({
    options: {
      tenant: { type: 'string' },
      roles: { type: 'string', default: 'submitter' },
      scopes: { type: 'string' },
      subject: { type: 'string' },
      ttl: { type: 'string', default: String(DEFAULT_TOKEN_TTL_SECONDS) },
      url: { type: 'string', default: DEFAULT_BASE_URL },
      client: { type: 'string' },
      'data-dir': { type: 'string', default: process.env['SWITCHBOARD_DATA_DIR'] ?? '.switchboard' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void console.log(usage);
  const dataDir = resolve(values['data-dir']);
  if (values.client !== undefined) {
    const known = (readProjectConfig().auth.cognito?.machineClients ?? []).map((client) => client.name);
    if (!known.includes(values.client)) throw new Error(`--client: no machine client ${values.client} in cdk.json auth.cognito.machineClients (known: ${known.join(', ') || 'none'})`);
    const secret = ensureClientSecrets(dataDir, known)[values.client]!;
    return void process.stdout.write(`client_id=${values.client}\nclient_secret=${secret}\n`);
  }
  const tenant = TenantIdSchema.safeParse(values.tenant);
  if (!tenant.success) throw new Error(`--tenant: ${values.tenant === undefined ? 'required' : tenant.error.issues[0]?.message}\n${usage}`);
  const roles = list(values.roles);
  const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r));
  if (unknown.length) throw new Error(`--roles: unknown role(s) ${unknown.join(', ')}; known: ${ROLES.join(', ')}`);
  const scopes = values.scopes === undefined ? undefined : list(values.scopes);
  const unknownScopes = (scopes ?? []).filter((s) => !(FAMILIES as string[]).includes(s));
  if (unknownScopes.length) throw new Error(`--scopes: unknown scope famil(ies) ${unknownScopes.join(', ')}; known: ${FAMILIES.join(', ')}`);
  const ttlSeconds = Number(values.ttl);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 7 * 24 * 3600) throw new Error('--ttl: 1 to 604800 seconds');
  const url = URL.parse(values.url);
  if (!url || !/^https?:$/.test(url.protocol) || url.pathname !== '/' || url.search) throw new Error(`--url: the local cloud's base URL, like ${DEFAULT_BASE_URL}`);
  const key = await ensureIssuerKey(dataDir);
  const token = await signLocalToken(key, url.origin, {
    tenant: tenant.data,
    roles,
    ttlSeconds,
    scopes: scopes as ScopeFamily[] | undefined,
    ...(values.subject ? { subject: values.subject } : {}),
  });
  process.stdout.write(`${token}\n`);
};

main().catch((error: unknown) => {
  process.stderr.write(`token: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
});
