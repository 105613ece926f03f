#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { ROLES } from '../lambdas/domain/principal';
import { TenantIdSchema } from '../lambdas/domain/task';
import { DEFAULT_TOKEN_TTL_SECONDS, ensureIssuerKey, signLocalToken } from './local-cloud/issuer';
import { readProjectConfig } from './local-cloud/synth';

const usage = `Usage: npm run -s token -- --tenant <id> [--roles r1,r2] [--subject s] [--ttl seconds] [--data-dir dir]
Prints a bearer token signed by the local issuer that \`npm start\` accepts (not \`npm start -- --in-memory\`,
whose issuer key lives in its process: it prints a token itself). Roles: ${ROLES.join(', ')}.
The token is valid for --ttl seconds: ${DEFAULT_TOKEN_TTL_SECONDS} (one hour) by default, at most 604800 (7 days).`;

const main = async () => {
  const { values } = parseArgs({
    options: {
      tenant: { type: 'string' },
      roles: { type: 'string', default: 'submitter' },
      subject: { type: 'string' },
      ttl: { type: 'string', default: String(DEFAULT_TOKEN_TTL_SECONDS) },
      'data-dir': { type: 'string', default: process.env['SWITCHBOARD_DATA_DIR'] ?? '.switchboard' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void console.log(usage);
  const tenant = TenantIdSchema.safeParse(values.tenant);
  if (!tenant.success) throw new Error(`--tenant: ${values.tenant === undefined ? 'required' : tenant.error.issues[0]?.message}\n${usage}`);
  const roles = values.roles.split(',').map((r) => r.trim()).filter(Boolean);
  const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r));
  if (unknown.length) throw new Error(`--roles: unknown role(s) ${unknown.join(', ')}; known: ${ROLES.join(', ')}`);
  const ttlSeconds = Number(values.ttl);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 7 * 24 * 3600) throw new Error('--ttl: 1 to 604800 seconds');
  const { auth } = readProjectConfig();
  const key = await ensureIssuerKey(resolve(values['data-dir']));
  process.stdout.write(
    `${await signLocalToken(key, {
      tenant: tenant.data,
      roles,
      audience: auth.audience,
      tenantClaim: auth.tenantClaim,
      rolesClaim: auth.rolesClaim,
      ttlSeconds,
      ...(values.subject ? { subject: values.subject } : {}),
    })}\n`,
  );
};

main().catch((error: unknown) => {
  process.stderr.write(`token: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
});
