import { App } from 'aws-cdk-lib';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type SwitchboardConfig } from '../../lib/config';
import { PROJECT_ROOT } from '../../lib/constructs/switchboard-function';
import { buildSwitchboard } from '../../lib/switchboard-app';

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Export?: { Name: string } }>;
}
export interface SynthesizedStack {
  stackName: string;
  template: CfnTemplate;
}

/** The `switchboard` context of cdk.json, validated: the same input the CDK app reads. */
export const readProjectConfig = (): SwitchboardConfig => {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  return parseConfig(cdkJson.context['switchboard']);
};

/**
 * Synthesizes the real CDK app in-process (bundling skipped: the local cloud runs the handler
 * sources) and returns each stack's CloudFormation template. The local cloud builds everything
 * from these templates, so it never keeps a second list of tables, queues, functions or routes.
 */
export const synthesizeTemplates = (config: SwitchboardConfig): SynthesizedStack[] => {
  const outdir = mkdtempSync(join(tmpdir(), 'switchboard-synth-'));
  try {
    const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
    const app = new App({ outdir, context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });
    const stacks = buildSwitchboard(app, config);
    const assembly = app.synth();
    return Object.values(stacks).map((stack) => ({
      stackName: stack.stackName,
      template: assembly.getStackByName(stack.stackName).template as CfnTemplate,
    }));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
};
