import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCloudProcess, type LocalCloudProcess } from '../../bin/harness/local-cloud-process';
import { startTokenProxy } from '../../bin/harness/token-proxy';
import { readFileSync } from 'node:fs';
import { docsTable, DOCS_FILE, formatTable, runSuite, SUITES, TASKS_EXTENSION_SCENARIOS, verdicts, type SuiteRun } from '../../bin/harness/conformance-suites';

/** The tasks extension's checks that need no fixture tool: each must pass (docs/protocol.md, "MCP tasks"). */
const FIXTURE_FREE_TASK_CHECKS = [
  'tasks-capability-negotiation:tasks-extension-advertised',
  'tasks-capability-negotiation:sep-2663-tasks-methods-non-declaring',
  'tasks-dispatch-and-envelope:sep-2663-tasks-result-removed-method-not-found',
  'tasks-dispatch-and-envelope:tasks-removed-tasks-list',
  'tasks-dispatch-and-envelope:sep-2663-tasks-get-invalid-task-id-32602',
  'tasks-request-headers:tasks-headers-reject-mismatched-method',
];

let cloud: LocalCloudProcess;
let proxy: Awaited<ReturnType<typeof startTokenProxy>>;

beforeAll(async () => {
  cloud = await startLocalCloudProcess();
  proxy = await startTokenProxy(cloud.mcpUrl, await cloud.token('conformance', 'admin'));
}, 90_000);
afterAll(async () => {
  await proxy?.stop();
  await cloud?.stop();
});

describe.each(SUITES)('official MCP conformance suite, $era era, against npm start', (suite) => {
  let run: SuiteRun;
  beforeAll(async () => {
    run = await runSuite(suite, proxy.url, mkdtempSync(join(tmpdir(), `conformance-${suite.era}-`)));
  }, 300_000);

  it('gives every expected failure a reason, and only fixture-bound ones', () => {
    expect(run.expected.length).toBeGreaterThan(0);
    for (const entry of run.expected) {
      expect(entry.reason, `${entry.scenario}:${entry.checkId ?? ''}`).toMatch(/fixture|serves no|only a server with resources|stateless by design/);
    }
  });

  it('passes every scenario and check that the expected-failures file does not name', () => {
    const failures = verdicts(run)
      .filter((v) => v.verdict === 'FAIL')
      .map((v) => `${v.scenario}: ${v.unexpected.map((c) => `${c.id} (${c.status}: ${c.errorMessage ?? ''})`).join(', ')}`);
    expect(failures).toEqual([]);
  });

  it('has no stale expected failure: each one names a check that really fails', () => {
    const stale = run.expected.filter((entry) => {
      const checks = run.scenarios.get(entry.scenario) ?? [];
      const failing = checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING');
      return entry.checkId ? !failing.some((c) => c.id === entry.checkId) : failing.length === 0;
    });
    expect(stale.map((e) => `${e.scenario}:${e.checkId ?? ''}`)).toEqual([]);
  });

  it(`passes in full: ${suite.mustPass.join(', ')}`, () => {
    for (const scenario of suite.mustPass) {
      const checks = run.scenarios.get(scenario);
      expect(checks, scenario).toBeDefined();
      expect(checks!.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING'), scenario).toEqual([]);
      expect(run.expected.filter((e) => e.scenario === scenario), scenario).toEqual([]);
    }
  });

  it('is reported in docs/protocol.md exactly as it ran (npm run conformance -- --write-docs)', () => {
    expect(docsTable(readFileSync(DOCS_FILE, 'utf8'), suite.era)).toBe(formatTable(run));
  });

  it('scores every tasks scenario it runs (Switchboard serves tasks): each fixture-free check passed', () => {
    const rows = new Map(verdicts(run).map((v) => [v.scenario, v.verdict]));
    const tasks = [...run.scenarios.keys()].filter((scenario) => scenario.startsWith('tasks-')).sort();
    // 0.1.16 (2025-11-25) has no tasks scenario: that era's tasks are held by the v1 client's task API (test/e2e/mcp-tasks.test.ts).
    expect(tasks).toEqual(suite.era === '2026-07-28' ? [...TASKS_EXTENSION_SCENARIOS].sort() : []);
    for (const scenario of tasks) expect([scenario, rows.get(scenario)]).not.toEqual([scenario, 'not scored']);
    for (const entry of suite.era === '2026-07-28' ? FIXTURE_FREE_TASK_CHECKS : []) {
      const [scenario, id] = entry.split(':') as [string, string];
      expect([entry, run.scenarios.get(scenario)?.find((c) => c.id === id)?.status]).toEqual([entry, 'SUCCESS']);
    }
  });

  it('exits 0 under its own baseline check (no unexpected failure, no stale entry)', () => {
    expect(run.exitCode, run.output.slice(-2000)).toBe(0);
  });
});
