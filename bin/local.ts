#!/usr/bin/env node
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startLocalCloud } from './local-cloud/cloud';

const usage = `Usage: npm start -- [--port N] [--host H] [--data-dir DIR] [--in-memory] [--log-level LEVEL]
Runs Switchboard locally. PORT (default 3000) and SWITCHBOARD_DATA_DIR (default .switchboard) are read too.`;

const main = async () => {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: process.env['PORT'] ?? '3000' },
      host: { type: 'string', default: '127.0.0.1' },
      'data-dir': { type: 'string', default: process.env['SWITCHBOARD_DATA_DIR'] ?? '.switchboard' },
      'in-memory': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: process.env['LOG_LEVEL'] ?? 'WARN' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void console.log(usage);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: not a port: ${values.port}`);
  const started = Date.now();
  const cloud = await startLocalCloud({
    port,
    host: values.host,
    dataDir: resolve(values['data-dir']),
    inMemory: values['in-memory'],
    logLevel: values['log-level'].toUpperCase(),
  });
  process.stderr.write(
    `[local] state: ${values['in-memory'] ? 'in memory' : resolve(values['data-dir'])}; ready in ${Date.now() - started} ms\n` +
      `[local] get a token: npm run -s token -- --tenant acme --roles submitter\n`,
  );
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
  process.stderr.write(`local cloud: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
