import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { PROJECT_ROOT } from '../../lib/constructs/switchboard-function';

/** The official MCP conformance suites the project runs, one per protocol era. */
export interface Suite {
  era: '2025-11-25' | '2026-07-28';
  /** npm alias under which the suite's version is installed. */
  packageName: string;
  args: string[];
  expectedFailures: string;
  /** Scenarios that must pass in full, whatever the expected-failures file says. */
  mustPass: string[];
  /**
   * Scenarios the revision does not score (an optional extension's) that Switchboard scores anyway,
   * because it serves that extension: every check passes or the expected-failures file names it.
   */
  alsoScored?: string[];
}

/** The 0.2.x scenarios of the io.modelcontextprotocol/tasks extension (SEP-2663), which Switchboard serves. */
export const TASKS_EXTENSION_SCENARIOS = [
  'tasks-capability-negotiation',
  'tasks-dispatch-and-envelope',
  'tasks-lifecycle',
  'tasks-mrtr-composition',
  'tasks-mrtr-input',
  'tasks-request-headers',
  'tasks-request-state-removal',
  'tasks-required-task-error',
  'tasks-status-notifications',
  'tasks-wire-fields',
];

export const SUITES: Suite[] = [
  {
    era: '2025-11-25',
    packageName: 'conformance-2025',
    args: [],
    expectedFailures: join(PROJECT_ROOT, 'test/conformance/expected-failures.2025-11-25.yaml'),
    mustPass: ['server-initialize', 'ping', 'tools-list', 'dns-rebinding-protection', 'logging-set-level'],
  },
  {
    era: '2026-07-28',
    packageName: 'conformance-2026',
    args: ['--requirements', '2026-07-28'],
    expectedFailures: join(PROJECT_ROOT, 'test/conformance/expected-failures.2026-07-28.yaml'),
    mustPass: ['http-header-validation', 'tools-list', 'dns-rebinding-protection', 'server-sse-multiple-streams'],
    alsoScored: TASKS_EXTENSION_SCENARIOS,
  },
];

export interface Check {
  id: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'SKIPPED' | 'INFO';
  errorMessage?: string;
}
export interface ExpectedFailure {
  scenario: string;
  checkId?: string;
  reason: string;
}
export interface SuiteRun {
  suite: Suite;
  exitCode: number;
  output: string;
  scenarios: Map<string, Check[]>;
  expected: ExpectedFailure[];
  /** With `--requirements`: the scenarios the revision scores, and why the others are not scored. */
  scored?: Set<string>;
  notScored: Map<string, string>;
}

/** The suite's own requirement set for `--requirements <revision>`, if the run uses one. */
export const requirementSet = (suite: Suite): { scored?: Set<string>; notScored: Map<string, string> } => {
  const index = suite.args.indexOf('--requirements');
  if (index < 0) return { notScored: new Map() };
  const file = join(PROJECT_ROOT, 'node_modules', suite.packageName, 'requirements', `${suite.args[index + 1]}.yaml`);
  const set = parseYaml(readFileSync(file, 'utf8')) as {
    server?: string[];
    not_scored?: { scenario: string; leg: string; reason: string }[];
  };
  return {
    scored: new Set([...(set.server ?? []), ...(suite.alsoScored ?? [])]),
    notScored: new Map((set.not_scored ?? []).filter((e) => e.leg === 'server').map((e) => [e.scenario, e.reason])),
  };
};

export const packageVersion = (suite: Suite): string =>
  (JSON.parse(readFileSync(join(PROJECT_ROOT, 'node_modules', suite.packageName, 'package.json'), 'utf8')) as { version: string }).version;

/** Entries of an expected-failures file with the reason written after `#` on the same line. */
export const readExpectedFailures = (file: string): ExpectedFailure[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => /^\s*-\s*([^\s#]+)\s*(?:#\s*(.*))?$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map(([, entry, reason]) => {
      const [scenario, checkId] = entry!.split(':');
      return { scenario: scenario!, ...(checkId ? { checkId } : {}), reason: (reason ?? '').trim() };
    });

/** Reads `-o DIR`: one `server-<scenario>-<timestamp>/checks.json` per scenario. */
export const readResults = (dir: string): Map<string, Check[]> => {
  const results = new Map<string, Check[]>();
  if (!existsSync(dir)) return results;
  for (const entry of readdirSync(dir)) {
    const file = join(dir, entry, 'checks.json');
    if (!existsSync(file)) continue;
    const scenario = entry.replace(/^server-/, '').replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, '');
    results.set(scenario, JSON.parse(readFileSync(file, 'utf8')) as Check[]);
  }
  return results;
};

/** Runs one suite against `url` with its expected-failures baseline, keeping per-check results in `outDir`. */
export const runSuite = (suite: Suite, url: string, outDir: string, onOutput?: (text: string) => void): Promise<SuiteRun> =>
  new Promise((resolve, reject) => {
    const cli = join(PROJECT_ROOT, 'node_modules', suite.packageName, 'dist', 'index.js');
    const child = spawn(process.execPath, [cli, 'server', '--url', url, ...suite.args, '--expected-failures', suite.expectedFailures, '-o', outDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      onOutput?.(chunk.toString());
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        suite,
        exitCode: code ?? 1,
        output,
        scenarios: readResults(outDir),
        expected: readExpectedFailures(suite.expectedFailures),
        ...requirementSet(suite),
      }),
    );
  });

const failed = (check: Check) => check.status === 'FAILURE' || check.status === 'WARNING';

export type Verdict = 'pass' | 'excluded' | 'pass except excluded checks' | 'not scored' | 'skipped by the suite' | 'FAIL';

/** What a scenario came to, given the expected failures: the rows of the conformance table. */
export const verdicts = (run: SuiteRun) =>
  [...run.scenarios.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([scenario, checks]) => {
      const passed = checks.filter((c) => c.status === 'SUCCESS').length;
      if (run.scored && !run.scored.has(scenario)) {
        // Run and reported, but outside the revision's requirement set (extension or pending).
        const why = `not required by ${run.suite.era}: ${run.notScored.get(scenario) ?? 'not in the requirement set'}`;
        const failing = checks.filter(failed).length;
        return { scenario, verdict: 'not scored' as Verdict, passed, total: checks.length, unexpected: [], reasons: failing ? [why] : [] };
      }
      if (checks.length > 0 && checks.every((c) => c.status === 'SKIPPED')) {
        // The suite runs nothing against the server (its harness for the scenario is pending): nothing passed, nothing failed.
        const why = (checks[0]!.errorMessage ?? '').replace(/^Skipped: /, '').split(/[.,] /)[0]!;
        return { scenario, verdict: 'skipped by the suite' as Verdict, passed, total: checks.length, unexpected: [], reasons: [why] };
      }
      const whole = run.expected.find((e) => e.scenario === scenario && !e.checkId);
      const perCheck = run.expected.filter((e) => e.scenario === scenario && e.checkId);
      const unexpected = checks.filter((c) => failed(c) && !whole && !perCheck.some((e) => e.checkId === c.id));
      const verdict: Verdict = unexpected.length > 0 ? 'FAIL' : whole ? 'excluded' : perCheck.length > 0 ? 'pass except excluded checks' : 'pass';
      const reasons = whole ? [whole.reason] : perCheck.map((e) => `${e.checkId}: ${e.reason}`);
      return { scenario, verdict, passed, total: checks.length, unexpected, reasons };
    });

export const formatTable = (run: SuiteRun): string => {
  const rows = verdicts(run).map(
    (v) => `| ${v.scenario} | ${v.verdict} | ${v.passed}/${v.total} | ${v.reasons.join('; ').replace(/\|/g, '\\|')} |`,
  );
  return [
    `### ${run.suite.era}: @modelcontextprotocol/conformance ${packageVersion(run.suite)} ${run.suite.args.join(' ')}`.trim(),
    '',
    '| scenario | result | checks passed | excluded because |',
    '|---|---|---|---|',
    ...rows,
  ].join('\n');
};

/** The docs/protocol.md section of one suite, between its markers. */
export const DOCS_FILE = join(PROJECT_ROOT, 'docs', 'protocol.md');
const markers = (era: string) => [`<!-- conformance:${era} -->`, `<!-- /conformance:${era} -->`] as const;

export const docsTable = (docs: string, era: string): string | undefined => {
  const [open, close] = markers(era);
  const start = docs.indexOf(open);
  const end = docs.indexOf(close);
  return start < 0 || end < start ? undefined : docs.slice(start + open.length, end).trim();
};

export const withDocsTable = (docs: string, era: string, table: string): string => {
  const [open, close] = markers(era);
  const start = docs.indexOf(open);
  const end = docs.indexOf(close);
  if (start < 0 || end < start) throw new Error(`docs/protocol.md has no ${open} … ${close} section`);
  return `${docs.slice(0, start + open.length)}\n${table}\n${docs.slice(end)}`;
};
