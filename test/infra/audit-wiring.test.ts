import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCdkContext } from '../../bin/local-cloud/synth';
import { ENV } from '../../lambdas/contracts';
import { parseConfig } from '../../lib/config';
import { buildSwitchboard, type SwitchboardApp } from '../../lib/switchboard-app';
import { flat } from './template-values';

/**
 * The audit log as the app wires it (docs/audit.md): who appends (every function that acts), who
 * signs digests and where they go (the reconciler: the signing key, the Object Lock bucket), who
 * verifies (the gateway), and that no function may rewrite the log.
 */
type Resource = { Type: string; Properties: Record<string, any> };
type Statement = { Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, unknown>> };
const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

let stacks: SwitchboardApp;
const templates: Template[] = [];
beforeAll(() => {
  const context = readCdkContext();
  const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  stacks = buildSwitchboard(app, parseConfig(context['switchboard']));
  app.synth();
  for (const stack of [stacks.api, stacks.messaging, stacks.workflows]) templates.push(Template.fromStack(stack));
});

const functions = () =>
  templates.flatMap((template) =>
    Object.entries(template.findResources('AWS::Lambda::Function') as Record<string, Resource>).map(([id, fn]) => {
      const roleId = (fn.Properties['Role'] as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;
      const statements = Object.values(template.findResources('AWS::IAM::Policy') as Record<string, Resource>)
        .filter((policy) => (policy.Properties['Roles'] as { Ref: string }[]).some((role) => role.Ref === roleId))
        .flatMap((policy) => policy.Properties['PolicyDocument'].Statement as Statement[]);
      return { id, description: String(fn.Properties['Description']), env: (fn.Properties['Environment']?.Variables ?? {}) as Record<string, unknown>, statements };
    }),
  );
const fn = (description: RegExp) => {
  const found = functions().find((f) => description.test(f.description));
  if (!found) throw new Error(`no function described ${description}`);
  return found;
};
const auditTableLogicalId = () => Object.keys(Template.fromStack(stacks.stateful).findResources('AWS::DynamoDB::Table')).find((id) => id.startsWith('AuditTable'))!;

describe('audit log wiring', () => {
  it('every function that acts appends to the audit table, conditioned on its partitions, and none may update or delete it', () => {
    for (const description of [/^MCP server/, /^Runs queued agent tasks/, /^Fails the tasks whose messages/, /^Re-sends tasks/, /workflow/i]) {
      const f = fn(description);
      expect(flat(f.env[ENV.auditTable]), f.description).toContain(auditTableLogicalId());
      const onAudit = f.statements.filter((s) => flat(s.Resource).includes(auditTableLogicalId()) && actionsOf(s).some((a) => a.startsWith('dynamodb:')));
      expect(onAudit.flatMap(actionsOf).sort(), f.description).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query']);
      expect(onAudit[0]!.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys']).toEqual(['AUDIT#*', 'AUDIT_TENANTS']);
    }
    for (const f of functions()) {
      const rewrites = f.statements.filter((s) => flat(s.Resource).includes(auditTableLogicalId()) && actionsOf(s).some((a) => /UpdateItem|DeleteItem|BatchWriteItem|\*/.test(a)));
      expect(rewrites, f.description).toEqual([]);
    }
  });

  it('the reconciler signs digests with the signing key and writes them to the Object Lock bucket; the gateway only verifies', () => {
    const reconciler = fn(/^Re-sends tasks/);
    expect(flat(reconciler.env[ENV.auditSigningKeyArn])).toContain('DigestSigningKey');
    expect(flat(reconciler.env[ENV.auditDigestBucket])).toContain('DigestBucket');
    const kms = (f: ReturnType<typeof fn>) => f.statements.filter((s) => flat(s.Resource).includes('DigestSigningKey')).flatMap(actionsOf);
    expect(kms(reconciler)).toEqual(['kms:Sign']);
    const puts = reconciler.statements.filter((s) => flat(s.Resource).includes('DigestBucket'));
    expect(puts.flatMap(actionsOf)).toContain('s3:PutObject');
    expect(puts.flatMap(actionsOf).filter((a) => /Delete|PutObjectRetention|BypassGovernance|PutBucket/.test(a))).toEqual([]);
    expect(flat(puts.map((s) => s.Resource))).toContain('/digests/*');
    const gateway = fn(/^MCP server/);
    expect(kms(gateway)).toEqual(['kms:Verify']);
    expect(gateway.env[ENV.auditDigestBucket]).toBeUndefined();
  });
});
