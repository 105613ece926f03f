import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import type { SwitchboardConfig } from '../../lib/config';
import { buildSwitchboard } from '../../lib/switchboard-app';
import { readCdkContext, type CfnTemplate, type SynthesizedStack } from '../local-cloud/synth';

/** A stack of the cloud assembly and the region it deploys to (undefined when the stack is environment-agnostic). */
export type AssemblyStack = SynthesizedStack & { region?: string };

/**
 * Synthesizes the app (bundling skipped) and returns every stack of the assembly, the DR region's
 * stack included: `synthesizeTemplates` returns only the primary region's stacks, which the local
 * cloud provisions; the runbook needs the DR stack too.
 */
export const synthesizeAppTemplates = (config: SwitchboardConfig): AssemblyStack[] => {
  const outdir = mkdtempSync(join(tmpdir(), 'switchboard-drill-synth-'));
  try {
    const app = new App({ outdir, context: { ...readCdkContext(), 'aws:cdk:bundling-stacks': [] } });
    buildSwitchboard(app, config);
    return app.synth().stacks.map((stack) => ({
      stackName: stack.stackName,
      template: stack.template as CfnTemplate,
      ...(/^[a-z]{2}(-[a-z]+)+-\d$/.test(stack.environment.region) ? { region: stack.environment.region } : {}),
    }));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
};

/** The stacks the primary region runs (what npm start provisions): every stack but those deployed to another region. */
export const primaryStacks = (stacks: readonly AssemblyStack[], primaryRegion: string): AssemblyStack[] =>
  stacks.filter((stack) => stack.region === undefined || stack.region === primaryRegion);
