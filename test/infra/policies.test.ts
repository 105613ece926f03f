import { App } from 'aws-cdk-lib';
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
    expect(() => buildSwitchboard(new App(), readProjectConfig(), { policiesDir: dir })).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5: [^\\n]+$`));
  });
});
