import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config';
import { buildSwitchboard } from '../../lib/switchboard-app';
import { readCdkContext } from '../../bin/local-cloud/synth';

/** cdk.json `pullCapabilities` reach the gateway and the worker as PULL_CAPABILITIES; a pull capability is never an enabled agent. */
const context = readCdkContext();
const config = (overrides: Record<string, unknown>) => parseConfig({ ...(context['switchboard'] as object), ...overrides });
const variablesOf = (template: Template, description: string) =>
  Object.values(template.findResources('AWS::Lambda::Function')).find((f) => String(f['Properties'].Description).startsWith(description))!['Properties'].Environment
    .Variables as Record<string, unknown>;

describe('pull capabilities in the template', () => {
  it('the gateway and the worker get PULL_CAPABILITIES; none by default', () => {
    const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
    const stacks = buildSwitchboard(app, config({ pullCapabilities: ['translate', 'ocr.scan'] }));
    expect(variablesOf(Template.fromStack(stacks.api), 'MCP server')['PULL_CAPABILITIES']).toBe('translate,ocr.scan');
    expect(variablesOf(Template.fromStack(stacks.messaging), 'Runs queued')['PULL_CAPABILITIES']).toBe('translate,ocr.scan');
    expect(config({}).pullCapabilities).toEqual([]);
  });

  it('refuses a pull capability that is an enabled agent, or not a capability name', () => {
    const agent = (context['switchboard'] as { agents: string[] }).agents[0]!;
    expect(() => config({ pullCapabilities: [agent] })).toThrow(/switchboard\.pullCapabilities: a pull capability must not be an enabled agent/);
    expect(() => config({ pullCapabilities: ['Bad Name'] })).toThrow(/switchboard\.pullCapabilities\.0/);
  });
});
