import { App, Stack, Stage } from 'aws-cdk-lib';
import type { CloudFormationStackArtifact } from 'aws-cdk-lib/cx-api';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCdkContext } from '../../bin/local-cloud/synth';
import { parseConfig } from '../../lib/config';
import { PROJECT_ROOT } from '../../lib/constructs/switchboard-function';
import { addCompliancePacks, COMPLIANCE_PACKS, type CompliancePack } from '../../lib/nag';
import { buildSwitchboard } from '../../lib/switchboard-app';

/** One line of a cdk-nag JSON report: one rule on one resource. */
interface ReportLine {
  ruleId: string;
  resourceId: string;
  compliance: 'Compliant' | 'Non-Compliant' | 'Suppressed' | 'N/A' | string;
  exceptionReason: string;
  ruleLevel: string;
  ruleInfo: string;
}

const context = readCdkContext();
const config = parseConfig(context['switchboard']);
let stacks: Stack[];
let artifacts: CloudFormationStackArtifact[];
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let templates: Record<string, any>[];
let reports: Map<CompliancePack, ReportLine[]>;

// One synth of the whole app, bundling skipped: the packs run as aspects and write their reports.
beforeAll(() => {
  const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  buildSwitchboard(app, config); // AwsSolutions, as every synth
  addCompliancePacks(app, ['Serverless', 'NIST.800.53.R5']);
  const assembly = app.synth();
  stacks = app.node.children.filter((c): c is Stack => Stack.isStack(c));
  artifacts = stacks.map((stack) => assembly.getStackArtifact(stack.artifactId));
  templates = artifacts.map((artifact) => artifact.template as Record<string, any>);
  reports = new Map(
    COMPLIANCE_PACKS.map((pack) => [
      pack,
      stacks.flatMap((stack) => {
        // cdk-nag names it <pack>-<stage id>-<stack>-NagReport.json (the app's stage id is empty).
        const file = join(assembly.directory, `${pack}-${Stage.of(stack)?.node.id ?? ''}-${stack.stackName}-NagReport.json`);
        return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { lines: ReportLine[] }).lines : [];
      }),
    ]),
  );
});

const packOf = (ruleId: string) => COMPLIANCE_PACKS.find((pack) => ruleId.startsWith(`${pack}-`));
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim();

/** docs/compliance.md's generated block: per pack, each rule's outcome, then each acknowledgement with its resources. */
const report = (): string =>
  COMPLIANCE_PACKS.map((pack) => {
    const lines = reports.get(pack)!;
    const rules = [...new Set(lines.map((l) => l.ruleId))].sort();
    const count = (rule: string, state: string) => lines.filter((l) => l.ruleId === rule && l.compliance === state).length;
    const acknowledged = new Map<string, string[]>();
    for (const l of lines.filter((l) => l.compliance === 'Suppressed')) {
      const key = `${l.ruleId}\u0000${l.exceptionReason}`;
      acknowledged.set(key, [...(acknowledged.get(key) ?? []), l.resourceId]);
    }
    return [
      `### ${pack}`,
      '',
      `${rules.length} rules checked over ${new Set(lines.map((l) => l.resourceId)).size} resources.`,
      '',
      '| Rule | Compliant | Acknowledged | Not applicable |',
      '| --- | ---: | ---: | ---: |',
      ...rules.map((rule) => `| ${rule} | ${count(rule, 'Compliant')} | ${count(rule, 'Suppressed')} | ${count(rule, 'N/A')} |`),
      '',
      'Acknowledgements:',
      '',
      '| Rule | Resources | Reason |',
      '| --- | --- | --- |',
      ...[...acknowledged]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, resources]) => {
          const [rule, reason] = key.split('\u0000') as [string, string];
          return `| ${rule} | ${resources.sort().map((r) => `\`${r}\``).join(', ')} | ${cell(reason)} |`;
        }),
    ].join('\n');
  }).join('\n\n');

describe('compliance packs (AwsSolutions, Serverless, NIST 800-53 rev 5)', () => {
  it('leaves no unacknowledged error or warning of any pack on any stack', () => {
    // The assembly's messages are the annotations (Annotations.fromStack would synthesize the app again).
    const findings = artifacts.flatMap((artifact) =>
      artifact.messages
        .filter((m) => (m.level === 'error' || m.level === 'warning') && packOf(String(m.entry.data)))
        .map((m) => `${m.id}: ${String(m.entry.data).split(':')[0]}`),
    );
    expect(findings).toEqual([]);
  });

  it('runs every pack over every stack, and no rule of a pack failed to run', () => {
    for (const pack of COMPLIANCE_PACKS) {
      const lines = reports.get(pack)!;
      expect(lines.length, pack).toBeGreaterThan(0);
      expect(lines.filter((l) => l.compliance === 'Non-Compliant' || /error/i.test(l.compliance)), pack).toEqual([]);
      expect(lines.every((l) => packOf(l.ruleId) === pack)).toBe(true);
    }
    expect(new Set([...reports.values()].flat().map((l) => l.resourceId.split('/')[0])).size).toBe(stacks.length);
  });

  it('acknowledges per resource, each with a reason of its own (no blanket suppression)', () => {
    const suppressed = [...reports.values()].flat().filter((l) => l.compliance === 'Suppressed');
    expect(suppressed.length).toBeGreaterThan(0);
    for (const l of suppressed) expect(l.exceptionReason.length, `${l.ruleId} on ${l.resourceId}`).toBeGreaterThan(40);
    // Stack-wide acknowledgements are the AwsSolutions ones only, each narrowed by appliesTo to the finding it covers.
    for (const template of templates) {
      for (const rule of (template['Metadata']?.['cdk_nag']?.['rules_to_suppress'] ?? []) as { id: string; applies_to?: unknown[] }[]) {
        expect(rule.id).toMatch(/^AwsSolutions-/);
        expect(rule.applies_to?.length, rule.id).toBeGreaterThan(0);
      }
    }
  });

  it('docs/compliance.md carries the generated report (UPDATE_DOCS=1 rewrites it)', () => {
    const path = join(PROJECT_ROOT, 'docs', 'compliance.md');
    const start = '<!-- compliance-report:start -->';
    const end = '<!-- compliance-report:end -->';
    const block = `${start}\n${report()}\n${end}`;
    if (process.env.UPDATE_DOCS === '1') {
      const current = existsSync(path) ? readFileSync(path, 'utf8') : `# Compliance\n\n${start}\n${end}\n`;
      const from = current.indexOf(start);
      const to = current.indexOf(end);
      writeFileSync(path, from === -1 || to === -1 ? `${current.trimEnd()}\n\n${block}\n` : current.slice(0, from) + block + current.slice(to + end.length));
    }
    expect(readFileSync(path, 'utf8')).toContain(block);
  });
});
