import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config';
import { buildSwitchboard } from '../../lib/switchboard-app';
import { readCdkContext } from '../../bin/local-cloud/synth';

/** Connectors in the template: their configuration where it runs, and exactly the secrets and models they name. */
const context = readCdkContext();
const base = parseConfig(context['switchboard']);
const connectors = {
  mcpServers: [{ name: 'crm', url: 'https://crm.example.com/mcp', secret: { name: 'crm-token' } }],
  http: [
    {
      name: 'tickets', baseUrl: 'https://tickets.example.com', operations: ['createTicket'], secret: { name: 'tickets-token', scheme: 'Bearer' },
      openapi: { openapi: '3.0.3', info: { title: 't', version: '1' }, paths: { '/t': { post: { operationId: 'createTicket', responses: { '201': { description: 'ok' } } } } } },
    },
  ],
  llm: [{ name: 'llm.summarize', modelId: 'anthropic.claude-3-haiku-20240307-v1:0', promptTemplate: 'Summarize {{input.text}}', prices: { inputPer1kTokensUsd: 0.25, outputPer1kTokensUsd: 1.25 } }],
};

const synth = (overrides: Record<string, unknown>) => {
  const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  return buildSwitchboard(app, parseConfig({ ...(context['switchboard'] as object), ...overrides }));
};

describe('connectors in the template', () => {
  it('the gateway, the worker and the workflow function get CONNECTORS, GetSecretValue on exactly the named secrets and InvokeModel on exactly the models', () => {
    const stacks = synth({ connectors });
    for (const [stack, description] of [[stacks.api, 'MCP server'], [stacks.messaging, 'Runs queued'], [stacks.workflows, 'Workflow steps']] as const) {
      const template = Template.fromStack(stack);
      const fn = Object.entries(template.findResources('AWS::Lambda::Function')).find(([, f]) => String(f['Properties'].Description).startsWith(description))!;
      expect(JSON.parse(fn[1]['Properties'].Environment.Variables.CONNECTORS)).toMatchObject({ mcpServers: [{ name: 'crm' }], http: [{ name: 'tickets' }], llm: [{ name: 'llm.summarize' }] });
      // The connector-bound function is the only one of its stack with these statements.
      const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
      expect(policies).toContain('secret:crm-token-??????');
      expect(policies).toContain('secret:tickets-token-??????');
      expect(policies).toContain('foundation-model/anthropic.claude-3-haiku-20240307-v1:0');
      expect(policies).not.toMatch(/"secretsmanager:GetSecretValue"[^\]]*"\*"/);
      const findings = [
        ...Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
        ...Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
      ].map((f) => `${f.id}: ${String(f.entry.data).slice(0, 160)}`);
      expect(findings).toEqual([]);
    }
  });

  it('without connectors: no CONNECTORS variable and no secret or model permission', () => {
    const stacks = synth({});
    expect(base.connectors).toEqual({ mcpServers: [], http: [], llm: [] });
    for (const stack of [stacks.api, stacks.messaging, stacks.workflows]) {
      const json = JSON.stringify(Template.fromStack(stack).toJSON());
      expect(json).not.toContain('CONNECTORS');
      expect(json).not.toContain('secretsmanager:GetSecretValue');
      expect(json).not.toContain('bedrock:InvokeModel');
    }
  });

  it('refuses connectors too large for a function\'s environment, naming the limit', () => {
    const big = { ...connectors, llm: Array.from({ length: 30 }, (_, i) => ({ ...connectors.llm[0]!, name: `llm.s${i}`, promptTemplate: `Summarize ${'x'.repeat(100)} {{input.text}}` })) };
    expect(() => synth({ connectors: big })).toThrow(/bytes of configuration, more than the 3072/);
  });
});
