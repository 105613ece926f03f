import { startLocalCloud } from '../../bin/local-cloud/cloud';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AccessPolicyStore } from '../../lib/constructs/access-policies';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readProjectConfig } from '../../bin/local-cloud/synth';
import { loadAccessPolicies, POLICIES_DIR } from '../../lib/policies';
import { buildSwitchboard } from '../../lib/switchboard-app';

describe('access policies at synth', () => {
  it('the shipped policies load', () => {
    expect(Object.keys(loadAccessPolicies().policies)).toContain('tenant-isolation');
  });

  it('a malformed policy file fails the app\'s synth with one line naming file:line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-bad-policies-'));
    cpSync(POLICIES_DIR, dir, { recursive: true });
    writeFileSync(join(dir, 'platform.cedar'), '@id("ok")\npermit (principal, action, resource);\n\n@id("bad")\nforbid (principal, action, resource) when { principal.tenant == };\n');
    // Outside the project the path is absolute; inside, relative to it (lib/policies/platform.cedar:5).
    const file = join(dir, 'platform.cedar');
    expect(() => buildSwitchboard(new App(), { ...readProjectConfig(), policiesDir: dir })).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5: [^\\n]+$`));
  });
});

describe('npm start with a malformed policy', () => {
  it('fails to start with one line naming file:line (printed as such by bin/local.ts, no stack)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-bad-policies-'));
    cpSync(POLICIES_DIR, dir, { recursive: true });
    writeFileSync(join(dir, 'tenants', 'acme.cedar'), '// acme\npermit (principal, action, resource);\n');
    const started = startLocalCloud({
      port: 0,
      dataDir: mkdtempSync(join(tmpdir(), 'sb-bad-policies-data-')),
      inMemory: true,
      log: () => undefined,
      logLevel: 'SILENT',
      adjustConfig: (config) => ({ ...config, policiesDir: dir }),
    });
    const error = await started.then(
      async (cloud) => (await cloud.stop(), undefined),
      (e: unknown) => e as Error,
    );
    expect(error?.name).toBe('PolicyLoadError');
    expect(error?.message).toMatch(new RegExp(`^${join(dir, 'tenants', 'acme.cedar').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: [^\n]+$`));
  });
});

describe('AccessPolicyStore (optional sync to Verified Permissions)', () => {
  it('is in the Api stack when verifiedPermissions is set, and only then', () => {
    const storesOf = (verifiedPermissions: boolean) => {
      const built = buildSwitchboard(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), { ...readProjectConfig(), verifiedPermissions });
      return Object.keys(Template.fromStack(built.api).findResources('AWS::VerifiedPermissions::PolicyStore')).length;
    };
    expect(storesOf(true)).toBe(1);
    expect(storesOf(false)).toBe(0);
  });

  it('holds the schema (strict) and one static policy per statement, each described by its @id', () => {
    const stack = new Stack(new App(), 'Policies');
    const loaded = loadAccessPolicies();
    new AccessPolicyStore(stack, 'Access', { policies: loaded });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::VerifiedPermissions::PolicyStore', {
      ValidationSettings: { Mode: 'STRICT' },
      Schema: { CedarJson: Match.stringLikeRegexp('"Switchboard"') },
    });
    const policies = Object.values(template.findResources('AWS::VerifiedPermissions::Policy'));
    expect(policies.map((p) => p['Properties'].Definition.Static.Description).sort()).toEqual(Object.keys(loaded.policies).sort());
    const tenantPolicy = policies.find((p) => p['Properties'].Definition.Static.Description === 'example-corp-triage-admins-only')!;
    expect(tenantPolicy['Properties'].Definition.Static.Statement).toMatch(/^forbid[\s\S]*principal\.tenant == Switchboard::Tenant::"example-corp"/);
    expect(tenantPolicy['Properties'].Definition.Static.Statement).not.toContain('@id');
  });
});
