import { mkdtempSync, cpSync, writeFileSync, readFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cedarAccessPolicy, PolicyLoadError } from '../../lambdas/adapters/cedar-access-policy';
import { TOOL_SCOPES } from '../../lambdas/contracts/auth';
import type { AccessArguments } from '../../lambdas/domain/access';
import { ROLES, type Role } from '../../lambdas/domain/principal';
import { platformAccess, principal } from '../../bin/harness/in-memory';
import { POLICIES_DIR } from '../../lib/policies';
import { PROJECT_ROOT } from '../../lib/constructs/switchboard-function';

const TOOLS = Object.keys(TOOL_SCOPES);
const READ = ['get_task', 'list_tasks', 'list_agents'];
const AGENT = ['claim_task', 'heartbeat_task', 'complete_task', 'fail_task'];
const AUDIT = ['verify_audit', 'query_audit'];

/** The rules as docs/security.md and lib/policies/platform.cedar state them, written a second time. */
const documented = (role: Role, tool: string, args: AccessArguments): boolean => {
  if (args.targetTenant) return false; // a principal acts only within its own tenant
  switch (role) {
    case 'viewer':
      return READ.includes(tool);
    case 'submitter':
      return READ.includes(tool) || (['submit_task', 'start_workflow', 'cancel_task'].includes(tool) && args.priority !== 'critical');
    case 'approver':
      return READ.includes(tool) || ['approve_task', 'reject_task'].includes(tool);
    case 'auditor':
      // Its own tenant's audit log; another tenant's only with operator as well (a platform-wide auditor).
      return READ.includes(tool) || tool === 'list_role_grants' || (AUDIT.includes(tool) && !args.anyTenant);
    case 'agent':
      return AGENT.includes(tool);
    case 'admin':
      if (AGENT.includes(tool)) return false;
      if (['grant_role', 'revoke_role'].includes(tool)) return args.role !== 'operator';
      if (['register_agent', 'deregister_agent'].includes(tool)) return false; // the registry is the platform's
      if (tool === 'redrive_dead_letters') return !args.anyTenant;
      if (AUDIT.includes(tool)) return false; // the audit log is for auditors
      return true;
    case 'operator':
      return ['redrive_dead_letters', 'register_agent', 'deregister_agent'].includes(tool);
  }
};

/** Each tool with no arguments (what tools/list asks), then the arguments that matter. */
const CASES: [string, AccessArguments][] = [
  ...TOOLS.map((tool): [string, AccessArguments] => [tool, {}]),
  ...(['low', 'normal', 'high', 'critical'] as const).map((priority): [string, AccessArguments] => ['submit_task', { capability: 'echo', priority }]),
  ['start_workflow', { workflow: 'triage', priority: 'high' }],
  ['start_workflow', { workflow: 'triage', priority: 'critical' }],
  ...ROLES.map((role): [string, AccessArguments] => ['grant_role', { role }]),
  ['revoke_role', { role: 'operator' }],
  ['revoke_role', { role: 'approver' }],
  ['list_role_grants', { role: 'admin' }],
  ['redrive_dead_letters', { anyTenant: false }],
  ['redrive_dead_letters', { anyTenant: true }],
  ['verify_audit', { anyTenant: true }],
  ['query_audit', { anyTenant: true }],
  ['get_task', { targetTenant: 'globex' }],
  ['submit_task', { capability: 'echo', priority: 'normal', targetTenant: 'globex' }],
];

const describeCase = ([tool, args]: [string, AccessArguments]) =>
  `\`${tool}\`${Object.keys(args).length ? ' ' + Object.entries(args).map(([k, v]) => `${k}=${String(v)}`).join(', ') : ''}`;

const table = (): string => {
  const access = platformAccess();
  const rows = CASES.map((c) => `| ${describeCase(c)} | ${ROLES.map((role) => (access.decide(principal('acme', [role]), c[0], c[1]).allowed ? '✓' : '—')).join(' | ')} |`);
  return [`| tool and arguments | ${ROLES.join(' | ')} |`, `|---|${ROLES.map(() => '---').join('|')}|`, ...rows].join('\n');
};

describe('access policy (lib/policies, evaluated by cedar-wasm)', () => {
  const access = platformAccess();

  for (const role of ROLES) {
    it(`${role}: every tool × representative argument decided as documented`, () => {
      for (const [tool, args] of CASES) {
        expect(access.decide(principal('acme', [role]), tool, args).allowed, `${role} ${tool} ${JSON.stringify(args)}`).toBe(documented(role, tool, args));
      }
    });
  }

  it('a principal with several roles gets the union; no role, nothing', () => {
    expect([...access.allowedTools(principal('acme', ['viewer', 'agent']))].sort()).toEqual([...READ, ...AGENT].sort());
    expect(access.allowedTools(principal('acme', []))).toEqual(new Set());
    expect(access.decide(principal('acme', ['submitter', 'admin']), 'submit_task', { priority: 'critical' }).allowed).toBe(true);
  });

  it('names the missing permission: the tool, the arguments that matter, the roles and the forbidding rule', () => {
    expect(access.decide(principal('acme', ['submitter']), 'submit_task', { capability: 'echo', priority: 'critical' }).reason).toBe(
      'submit_task with capability echo, priority critical is not permitted for roles submitter (critical-priority-admin-only)',
    );
    expect(access.decide(principal('acme', ['viewer']), 'cancel_task', {}).reason).toBe('cancel_task is not permitted for roles viewer');
    expect(access.decide(principal('acme', ['admin']), 'grant_role', { role: 'operator' }).policies).toEqual(['operator-role-not-grantable']);
    expect(access.decide(principal('acme', ['admin']), 'redrive_dead_letters', { anyTenant: true }).policies).toEqual(['redrive-any-tenant-operator-only']);
    expect(access.decide(principal('acme', ['operator']), 'redrive_dead_letters', { anyTenant: true })).toMatchObject({ allowed: true, policies: ['redrive'] });
    // A platform-wide auditor (auditor and operator) reads any tenant's audit log; an auditor alone, its own.
    expect(access.decide(principal('acme', ['auditor', 'operator']), 'verify_audit', { anyTenant: true }).allowed).toBe(true);
    expect(access.decide(principal('acme', ['auditor']), 'query_audit', { anyTenant: true }).policies).toEqual(['audit-any-tenant-platform-auditor-only']);
    expect(access.decide(principal('acme', ['admin']), 'no_such_tool', {}).allowed).toBe(false);
  });

  it('a tenant\'s own forbid narrows its principals only (tenants/example-corp.cedar)', () => {
    const submitter = (tenant: string) => principal(tenant, ['submitter']);
    expect(access.decide(submitter('example-corp'), 'submit_task', { capability: 'echo', priority: 'high' })).toMatchObject({
      allowed: false,
      policies: ['example-corp-submitters-normal-at-most'],
    });
    expect(access.decide(submitter('acme'), 'submit_task', { capability: 'echo', priority: 'high' }).allowed).toBe(true);
    expect(access.decide(submitter('example-corp'), 'submit_task', { capability: 'echo', priority: 'normal' }).allowed).toBe(true);
    expect(access.decide(submitter('example-corp'), 'start_workflow', { workflow: 'triage', priority: 'normal' }).allowed).toBe(false);
    expect(access.decide(principal('example-corp', ['admin']), 'start_workflow', { workflow: 'triage', priority: 'normal' }).allowed).toBe(true);
  });

  const withFiles = (files: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-policies-'));
    cpSync(POLICIES_DIR, dir, { recursive: true });
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    return dir;
  };
  const loadError = (dir: string) => {
    try {
      cedarAccessPolicy(dir, { displayRoot: dir });
    } catch (error) {
      expect(error).toBeInstanceOf(PolicyLoadError);
      return (error as Error).message;
    }
    throw new Error('loaded');
  };

  it('refuses a permit in a tenant\'s file, naming file and line', () => {
    const dir = withFiles({ 'tenants/globex.cedar': '// globex\n\n@id("globex-more")\npermit (principal, action, resource);\n' });
    expect(loadError(dir)).toBe("tenants/globex.cedar:3: a tenant's policy may only forbid (permits are the platform's)");
  });

  it('reports a malformed policy, a policy the schema refuses and a missing @id with file:line', () => {
    expect(loadError(withFiles({ 'extra.cedar': '@id("x")\npermit (principal, action, resource)\nwhen { context.priority >= };\n' }))).toMatch(/^extra\.cedar:3: /);
    expect(loadError(withFiles({ 'extra.cedar': '\n\n@id("y")\npermit (principal, action == Switchboard::Action::"get_task", resource)\nwhen { context.nope == 1 };\n' }))).toMatch(/^extra\.cedar:5: .*nope/);
    expect(loadError(withFiles({ 'extra.cedar': '// first\npermit (principal, action, resource);\n' }))).toBe('extra.cedar:2: the policy has no @id("…") annotation (a decision names it)');
    expect(loadError(withFiles({ 'extra.cedar': '@id("read")\nforbid (principal, action, resource);\n' }))).toMatch(/^platform\.cedar:\d+: @id\("read"\) is already used at extra\.cedar:1$/);
  });

  it('docs/security.md carries the generated decision table (UPDATE_DOCS=1 rewrites it)', () => {
    const path = join(PROJECT_ROOT, 'docs', 'security.md');
    const start = '<!-- policy-table:start -->';
    const end = '<!-- policy-table:end -->';
    const block = `${start}\n${table()}\n${end}`;
    if (process.env.UPDATE_DOCS === '1') {
      const current = existsSync(path) ? readFileSync(path, 'utf8') : `# Security\n\n${start}\n${end}\n`;
      const from = current.indexOf(start);
      const to = current.indexOf(end);
      writeFileSync(path, from === -1 || to === -1 ? `${current.trimEnd()}\n\n${block}\n` : current.slice(0, from) + block + current.slice(to + end.length));
    }
    expect(readFileSync(path, 'utf8')).toContain(block);
  });
});
