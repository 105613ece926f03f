import { App } from 'aws-cdk-lib';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type SwitchboardConfig } from '../../lib/config';
import { ENTRY_METADATA, PROJECT_ROOT } from '../../lib/constructs/switchboard-function';
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

/** The context of cdk.json: what `cdk synth` gives the app. */
export const readCdkContext = (): Record<string, unknown> =>
  (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;

/** The `switchboard` context of cdk.json, validated: the same input the CDK app reads. */
export const readProjectConfig = (): SwitchboardConfig => parseConfig(readCdkContext()['switchboard']);

/**
 * Synthesizes the real CDK app in-process (bundling skipped: the local cloud runs the handler
 * sources) and returns each stack's CloudFormation template. The local cloud builds everything
 * from these templates, so it never keeps a second list of tables, queues, functions or routes.
 */
export const synthesizeTemplates = (config: SwitchboardConfig): SynthesizedStack[] => {
  const outdir = mkdtempSync(join(tmpdir(), 'switchboard-synth-'));
  try {
    const app = new App({ outdir, context: { ...readCdkContext(), 'aws:cdk:bundling-stacks': [] } });
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

/**
 * Synthesizes the app with real esbuild bundling and copies each function's bundle to a folder of
 * its own, outside the project (so no `"type": "module"` applies and Node reads it as CommonJS,
 * as Lambda does). Returns the bundle file of each handler entry.
 */
export const synthesizeBundles = (config: SwitchboardConfig): Map<string, string> => {
  const outdir = mkdtempSync(join(tmpdir(), 'switchboard-bundles-'));
  const app = new App({ outdir, context: { ...readCdkContext(), 'aws:cdk:enable-asset-metadata': true } });
  const stacks = buildSwitchboard(app, config);
  const assembly = app.synth();
  const bundles = new Map<string, string>();
  for (const stack of Object.values(stacks)) {
    const { template } = assembly.getStackByName(stack.stackName) as { template: CfnTemplate };
    for (const resource of Object.values(template.Resources)) {
      const entry = resource.Metadata?.[ENTRY_METADATA];
      if (resource.Type !== 'AWS::Lambda::Function' || typeof entry !== 'string') continue;
      const dir = mkdtempSync(join(tmpdir(), 'switchboard-lambda-'));
      // The whole asset: a bundle may ship files beside index.js (the gateway's policies and Cedar wasm).
      cpSync(join(outdir, String(resource.Metadata!['aws:asset:path'])), dir, { recursive: true });
      bundles.set(entry, join(dir, 'index.js'));
    }
  }
  rmSync(outdir, { recursive: true, force: true });
  return bundles;
};
