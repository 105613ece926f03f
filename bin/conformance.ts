#!/usr/bin/env node
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startLocalCloudProcess } from './harness/local-cloud-process';
import { startTokenProxy } from './harness/token-proxy';
import { readFileSync, writeFileSync } from 'node:fs';
import { DOCS_FILE, formatTable, runSuite, SUITES, verdicts, withDocsTable } from './harness/conformance-suites';

const usage = `Usage: npm run conformance [-- --url URL --token TOKEN] [--verbose] [--write-docs]
Runs the official MCP conformance suites (2025-11-25 and 2026-07-28) against a fresh local cloud,
or against URL (through a proxy that adds the bearer TOKEN), and prints the conformance table.
--write-docs also writes the tables into docs/protocol.md.`;

const main = async () => {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      verbose: { type: 'boolean' },
      'write-docs': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void console.log(usage);
  if (Boolean(values.url) !== Boolean(values.token)) throw new Error('--url and --token go together');

  process.stderr.write(values.url ? `target: ${values.url}\n` : 'starting a local cloud (in memory)...\n');
  const cloud = values.url ? undefined : await startLocalCloudProcess();
  const proxy = await startTokenProxy(values.url ?? cloud!.mcpUrl, values.token ?? (await cloud!.token('conformance', 'admin')));
  let failures = 0;
  try {
    for (const suite of SUITES) {
      process.stderr.write(`running the ${suite.era} suite...\n`);
      const outDir = mkdtempSync(join(tmpdir(), `conformance-${suite.era}-`));
      const run = await runSuite(suite, proxy.url, outDir, values.verbose ? (text) => process.stderr.write(text) : undefined);
      const table = formatTable(run);
      console.log(`\n${table}\n\nper-check results: ${outDir}; suite exit code ${run.exitCode}`);
      if (values['write-docs']) writeFileSync(DOCS_FILE, withDocsTable(readFileSync(DOCS_FILE, 'utf8'), suite.era, table));
      failures += verdicts(run).filter((v) => v.verdict === 'FAIL').length + (run.exitCode === 0 ? 0 : 1);
    }
  } finally {
    await proxy.stop();
    await cloud?.stop();
  }
  process.exitCode = failures > 0 ? 1 : 0;
};

main().catch((error: unknown) => {
  process.stderr.write(`conformance: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
});
