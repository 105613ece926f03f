#!/usr/bin/env node
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LOG_LEVELS, parseLogLevel } from '../lambdas/adapters/runtime';
import { LOCAL_DEFAULT_HOST, LOCAL_DEFAULT_PORT } from './local-cloud/local-defaults';

const usage = `Usage: npm start -- [--port N] [--host H] [--data-dir DIR] [--in-memory] [--log-level LEVEL]
Runs Switchboard locally. PORT (default ${LOCAL_DEFAULT_PORT}), SWITCHBOARD_DATA_DIR (default .switchboard) and
LOG_LEVEL (the functions' log level: ${LOG_LEVELS.join(', ')}; default WARN) are read too.`;

/** A mistake in the command line: one line, then (for a bad option) the usage. */
class UsageError extends Error {
  constructor(message: string, readonly showUsage = true) {
    super(message);
  }
}

/** What the in-memory mode prints a token for (nothing else can sign for it). */
const READY_TOKEN = { tenant: 'acme', roles: ['submitter'], ttlSeconds: 24 * 3600 };

const parse = () => {
  try {
    return parseArgs({
      options: {
        port: { type: 'string', default: process.env['PORT'] ?? String(LOCAL_DEFAULT_PORT) },
        host: { type: 'string', default: LOCAL_DEFAULT_HOST },
        'data-dir': { type: 'string', default: process.env['SWITCHBOARD_DATA_DIR'] ?? '.switchboard' },
        'in-memory': { type: 'boolean', default: false },
        'log-level': { type: 'string', default: process.env['LOG_LEVEL'] ?? 'WARN' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    // node:util's own messages ("Unknown option '--bogus'", …) are clear; its stack is not.
    if ((error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((error as Error).message);
    throw error;
  }
};

const main = async () => {
  const values = parse();
  if (values.help) return void console.log(usage);
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535) throw new UsageError(`--port (or PORT): not a port number: ${values.port}`);
  const logLevel = parseLogLevel(values['log-level']);
  if (!logLevel) throw new UsageError(`--log-level (or LOG_LEVEL): ${values['log-level']} is none of ${LOG_LEVELS.join(', ')}`, false);
  const inMemory = values['in-memory'];
  const dataDir = resolve(values['data-dir']);

  // Loaded only now, so that a bad command line is answered at once.
  const { startLocalCloud } = await import('./local-cloud/cloud');
  const started = Date.now();
  // Tests and drills: run the scheduled functions (the reconciler) this often instead of their template rate.
  const scheduleMs = process.env['SWITCHBOARD_SCHEDULE_MS'];
  if (scheduleMs !== undefined && !/^\d+$/.test(scheduleMs)) throw new UsageError(`SWITCHBOARD_SCHEDULE_MS: not a number of milliseconds: ${scheduleMs}`, false);
  const cloud = await startLocalCloud({ port, host: values.host, dataDir, inMemory, logLevel, ...(scheduleMs ? { scheduleOverrideMs: Number(scheduleMs) } : {}) });
  const ready = `ready in ${Date.now() - started} ms`;
  process.stderr.write(`[local] OAuth: MCP clients (the MCP Inspector: just connect) sign in on the local page of ${cloud.issuer}\n`);
  if (cloud.tokenCommand) {
    process.stderr.write(
      `[local] state: ${dataDir}; ${ready}\n` +
        `[local] get a token (valid 1 h; --ttl SECONDS for longer): ${cloud.tokenCommand}\n`,
    );
  } else {
    // The issuer key lives in this process only: no other command can sign a token it accepts.
    process.stderr.write(
      `[local] state: in memory (the issuer key too, so npm run token cannot sign for this run); ${ready}\n` +
        `[local] a token for tenant ${READY_TOKEN.tenant}, roles ${READY_TOKEN.roles.join(',')}, valid 24 h:\n` +
        `export TOKEN=${await cloud.token(READY_TOKEN)}\n`,
    );
  }
  // The one line on stdout: tools and tests read the endpoint from it.
  process.stdout.write(`Switchboard MCP endpoint: ${cloud.mcpUrl}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`[local] ${signal}: stopping\n`);
    cloud.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
};

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`local cloud: ${error.message}\n${error.showUsage ? `${usage}\n` : ''}`);
    process.exit(2);
  }
  // A failure the operator can fix (LocalCloudError: port or data folder in use, …) is one line;
  // anything else is a bug, and its stack helps.
  // So is a malformed policy or workflow file (its message names file:line).
  const operator = error instanceof Error && ['LocalCloudError', 'PolicyLoadError', 'WorkflowDefinitionError'].includes(error.name);
  process.stderr.write(`local cloud: ${error instanceof Error ? (operator ? error.message : (error.stack ?? error.message)) : String(error)}\n`);
  process.exit(1);
});
