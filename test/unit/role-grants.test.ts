import { Client } from '@modelcontextprotocol/client';
import { InMemoryTransport, McpServer, type CallToolResult } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { DomainError, ForbiddenError, NotFoundError, ValidationError } from '../../lambdas/domain/errors';
import type { Principal } from '../../lambdas/domain/principal';
import { GRANT_HISTORY_DAYS, expiresAtOf, subjectOfGrantId } from '../../lambdas/domain/role-grants';
import { effectivePrincipal, grantRole, listRoleGrants, revokeRole } from '../../lambdas/domain/use-cases/role-grants';
import { registerAdminTools } from '../../lambdas/mcp-gateway/admin-tools';
import type { DecidedRun } from '../../lambdas/mcp-gateway/tools';
import type { AccessArguments } from '../../lambdas/domain/access';
import { InMemoryRoleGrants, ManualClock } from '../../bin/harness/in-memory';

const HOUR = 3_600_000;
const admin: Principal = { tenantId: 'acme', subject: 'alice', roles: ['admin'] };
const bob: Principal = { tenantId: 'acme', subject: 'bob', roles: ['viewer'] };
const auditor: Principal = { tenantId: 'acme', subject: 'audrey', roles: ['auditor'] };

const setup = () => {
  const clock = new ManualClock(new Date('2026-11-26T10:00:00.000Z'));
  const deps = { roleGrants: new InMemoryRoleGrants(), clock };
  const inHours = (hours: number) => new Date(clock.now().getTime() + hours * HOUR).toISOString();
  return { clock, deps, inHours };
};

describe('grantRole: the rules', () => {
  it('grants a role to a subject of the tenant until a time, normalized to UTC', async () => {
    const { deps } = setup();
    const grant = await grantRole(deps, admin, { subject: 'bob', role: 'approver', until: '2026-11-26T14:00:00+02:00', reason: 'incident 42' });
    expect(grant).toMatchObject({ subject: 'bob', role: 'approver', until: '2026-11-26T12:00:00.000Z', grantedBy: 'alice', status: 'active', reason: 'incident 42' });
    expect(subjectOfGrantId(grant.grantId)).toBe('bob');
  });

  it.each([
    ['in the past', -1, /until must be in the future/],
    ['now', 0, /until must be in the future/],
    ['more than 30 days ahead', 30 * 24 + 1, /at most 30 days ahead/],
  ])('refuses an until %s', async (_, hours, message) => {
    const { deps, inHours } = setup();
    await expect(grantRole(deps, admin, { subject: 'bob', role: 'approver', until: inHours(hours) })).rejects.toThrow(message);
  });

  it('accepts exactly 30 days ahead', async () => {
    const { deps, inHours } = setup();
    await expect(grantRole(deps, admin, { subject: 'bob', role: 'submitter', until: inHours(30 * 24) })).resolves.toMatchObject({ status: 'active' });
  });

  it('refuses an unknown role (INVALID_INPUT); which known roles an admin may grant is the policy\'s', async () => {
    const { deps, inHours } = setup();
    await expect(grantRole(deps, admin, { subject: 'bob', role: 'root' as never, until: inHours(1) })).rejects.toThrow(/role/);
    expect(deps.roleGrants.items.size).toBe(0);
  });

  it('takes subjects of up to 256 bytes, any characters but spaces and controls, and finds the subject back from the id', async () => {
    const { deps, inHours } = setup();
    for (const subject of ['x'.repeat(256), 'a#b.c/d@e', 'é'.repeat(128)]) {
      const grant = await grantRole(deps, admin, { subject, role: 'viewer', until: inHours(1) });
      expect(subjectOfGrantId(grant.grantId)).toBe(subject);
    }
    for (const subject of ['x'.repeat(257), 'é'.repeat(129), 'a b', '']) {
      await expect(grantRole(deps, admin, { subject, role: 'viewer', until: inHours(1) })).rejects.toThrow();
    }
  });

  it('refuses a grant to oneself', async () => {
    const { deps, inHours } = setup();
    await expect(grantRole(deps, admin, { subject: 'alice', role: 'approver', until: inHours(1) })).rejects.toBeInstanceOf(ValidationError);
  });

  it('keeps an ended grant for GRANT_HISTORY_DAYS after it ended (TTL)', () => {
    expect(expiresAtOf({ until: '2026-12-01T00:00:00.000Z' }) * 1000).toBe(Date.parse('2026-12-01T00:00:00.000Z') + GRANT_HISTORY_DAYS * 86_400_000);
    expect(expiresAtOf({ until: '2026-12-01T00:00:00.000Z', revokedAt: '2026-11-27T00:00:00.000Z' }) * 1000).toBe(
      Date.parse('2026-11-27T00:00:00.000Z') + GRANT_HISTORY_DAYS * 86_400_000,
    );
  });
});

describe('effectivePrincipal: token roles and active grants', () => {
  it('adds an active grant\'s role until `until`, not at `until` nor after', async () => {
    const { deps, clock, inHours } = setup();
    await grantRole(deps, admin, { subject: 'bob', role: 'approver', until: inHours(2) });
    expect((await effectivePrincipal(deps, bob, clock.now())).roles).toEqual(['viewer', 'approver']);
    clock.advance(2 * HOUR - 1);
    expect((await effectivePrincipal(deps, bob, clock.now())).roles).toEqual(['viewer', 'approver']);
    clock.advance(1);
    expect((await effectivePrincipal(deps, bob, clock.now())).roles).toEqual(['viewer']);
  });

  it('only for that subject of that tenant', async () => {
    const { deps, clock, inHours } = setup();
    await grantRole(deps, admin, { subject: 'bob', role: 'submitter', until: inHours(1) });
    expect((await effectivePrincipal(deps, { ...bob, tenantId: 'globex' }, clock.now())).roles).toEqual(['viewer']);
    expect((await effectivePrincipal(deps, { ...bob, subject: 'bobby' }, clock.now())).roles).toEqual(['viewer']);
  });

  it('a role the token already has, or granted twice, appears once', async () => {
    const { deps, clock, inHours } = setup();
    await grantRole(deps, admin, { subject: 'bob', role: 'viewer', until: inHours(1) });
    await grantRole(deps, admin, { subject: 'bob', role: 'submitter', until: inHours(1) });
    await grantRole(deps, admin, { subject: 'bob', role: 'submitter', until: inHours(3) });
    expect((await effectivePrincipal(deps, bob, clock.now())).roles).toEqual(['viewer', 'submitter']);
  });
});

describe('revokeRole', () => {
  it('revokes an active grant: the role is gone from the next call; again: already revoked, nothing changed', async () => {
    const { deps, clock, inHours } = setup();
    const { grantId } = await grantRole(deps, admin, { subject: 'bob', role: 'approver', until: inHours(2) });
    clock.advance(1000);
    const first = await revokeRole(deps, admin, { grantId });
    expect(first).toMatchObject({ revoked: true, grant: { status: 'revoked', revokedBy: 'alice', revokedAt: clock.now().toISOString() } });
    expect((await effectivePrincipal(deps, bob, clock.now())).roles).toEqual(['viewer']);
    clock.advance(1000);
    const second = await revokeRole(deps, admin, { grantId });
    expect(second).toMatchObject({ revoked: false, grant: { status: 'revoked', revokedAt: first.grant.revokedAt } });
    expect(second.message).toMatch(/already revoked at .* by alice/);
  });

  it('an expired grant is left as it is and said so', async () => {
    const { deps, clock, inHours } = setup();
    const { grantId, until } = await grantRole(deps, admin, { subject: 'bob', role: 'approver', until: inHours(1) });
    clock.advance(HOUR);
    const result = await revokeRole(deps, admin, { grantId });
    expect(result).toMatchObject({ revoked: false, grant: { status: 'expired' } });
    expect(result.grant.revokedAt).toBeUndefined();
    expect(result.message).toBe(`already expired at ${until}; nothing to revoke`);
  });

  it('an unknown grant, or another tenant\'s, is NOT_FOUND; a malformed id INVALID_INPUT', async () => {
    const { deps, inHours } = setup();
    const { grantId } = await grantRole(deps, admin, { subject: 'bob', role: 'approver', until: inHours(1) });
    await expect(revokeRole(deps, { ...admin, tenantId: 'globex' }, { grantId })).rejects.toBeInstanceOf(NotFoundError);
    await expect(revokeRole(deps, admin, { grantId: grantId.replace(/.$/, grantId.endsWith('0') ? '1' : '0') })).rejects.toThrow(/not found in your tenant/);
    await expect(revokeRole(deps, admin, { grantId: 'nope' })).rejects.toThrow();
    expect((await effectivePrincipal(deps, bob, deps.clock.now())).roles).toContain('approver');
  });
});

describe('listRoleGrants', () => {
  it('shows auditors every grant with its status now, history included, paged, filtered by subject', async () => {
    const { deps, clock, inHours } = setup();
    const expiring = await grantRole(deps, admin, { subject: 'bob', role: 'approver', until: inHours(1) });
    const revoked = await grantRole(deps, admin, { subject: 'bob', role: 'submitter', until: inHours(5) });
    await grantRole(deps, admin, { subject: 'carol', role: 'approver', until: inHours(5) });
    await grantRole({ ...deps }, { ...admin, tenantId: 'globex' }, { subject: 'bob', role: 'approver', until: inHours(5) });
    await revokeRole(deps, admin, { grantId: revoked.grantId });
    clock.advance(2 * HOUR);

    const first = await listRoleGrants(deps, auditor, { limit: 2 });
    expect(first.grants).toHaveLength(2);
    const second = await listRoleGrants(deps, auditor, { limit: 2, cursor: first.nextCursor! });
    expect(second.nextCursor).toBeUndefined();
    const all = [...first.grants, ...second.grants];
    expect(all.map((g) => [g.subject, g.role, g.status])).toEqual(
      expect.arrayContaining([['bob', 'approver', 'expired'], ['bob', 'submitter', 'revoked'], ['carol', 'approver', 'active']]),
    );
    expect(all).toHaveLength(3);
    const bobs = await listRoleGrants(deps, admin, { subject: 'bob' });
    expect(bobs.grants.map((g) => g.grantId).sort()).toEqual([expiring.grantId, revoked.grantId].sort());
  });
});

describe('registerAdminTools over MCP', () => {
  /** tools.ts's decided run in miniature: the decision first (here a fake policy), then the use-case, errors as tool results. */
  const decidedBy =
    (decide: (tool: string, args: AccessArguments) => void, seen: unknown[]): DecidedRun =>
    async (tool, args, action) => {
      seen.push([tool, args]);
      try {
        decide(tool, args);
        const structuredContent = await action();
        return { content: [{ type: 'text', text: JSON.stringify(structuredContent) }], structuredContent };
      } catch (error) {
        if (error instanceof DomainError) return { isError: true, content: [{ type: 'text', text: `${error.code}: ${error.message}` }] };
        throw error;
      }
    };
  const connect = async (caller: Principal, decide: (tool: string, args: AccessArguments) => void = () => undefined) => {
    const { deps, inHours } = setup();
    const seen: unknown[] = [];
    const server = new McpServer({ name: 'test', version: '0' }, { capabilities: { tools: {} } });
    registerAdminTools(server, deps, caller, decidedBy(decide, seen));
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: 'test-client', version: '0' });
    await client.connect(clientSide);
    return { client, deps, inHours, seen };
  };
  const text = (result: unknown) => ((result as CallToolResult).content[0] as { text: string }).text;

  it('lists the three tools, each with an output schema', async () => {
    const { client } = await connect(admin);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['grant_role', 'list_role_grants', 'revoke_role']);
    expect(tools.every((t) => t.outputSchema !== undefined)).toBe(true);
  });

  it('grant_role, list_role_grants and revoke_role round-trip through a real client, each decided first', async () => {
    const { client, inHours, seen } = await connect(admin);
    const granted = await client.callTool({ name: 'grant_role', arguments: { subject: 'bob', role: 'approver', until: inHours(1) } });
    expect(granted.isError).toBeFalsy();
    const grantId = (granted.structuredContent as { grantId: string }).grantId;
    const listed = await client.callTool({ name: 'list_role_grants', arguments: { subject: 'bob' } });
    expect(listed.structuredContent).toMatchObject({ grants: [{ grantId, status: 'active' }] });
    const revoked = await client.callTool({ name: 'revoke_role', arguments: { grantId } });
    expect(revoked.structuredContent).toMatchObject({ revoked: true, grant: { status: 'revoked' } });
    expect(seen).toEqual([['grant_role', { role: 'approver' }], ['list_role_grants', {}], ['revoke_role', {}]]);
  });

  it('a denial of the role granted is FORBIDDEN and writes nothing', async () => {
    const { client, deps, inHours } = await connect(admin, (_tool, args) => {
      if (args.role === 'operator') throw new ForbiddenError('grant_role with role operator is not permitted for roles admin');
    });
    const refused = await client.callTool({ name: 'grant_role', arguments: { subject: 'bob', role: 'operator', until: inHours(1) } });
    expect(refused.isError).toBe(true);
    expect(text(refused)).toBe('FORBIDDEN: grant_role with role operator is not permitted for roles admin');
    expect(deps.roleGrants.items.size).toBe(0);
  });

  it('hostile arguments get an error result, not a crash', async () => {
    const { client } = await connect(admin);
    const result = await client.callTool({ name: 'grant_role', arguments: { subject: 'bob', role: 'root', until: 'tomorrow', extra: 1 } });
    expect(result.isError).toBe(true);
  });
});
