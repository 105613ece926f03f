import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCloud, type LocalCloud } from '../../bin/local-cloud/cloud';
import { connectV1, connectV2, type ToolClient } from '../../bin/harness/mcp-clients';

/**
 * Access as `npm start` enforces it, through real MCP clients in both eras: tools/list shows each
 * role its own tools (the Cedar policy's decision), a call outside the role or with an argument the
 * role may not use answers FORBIDDEN naming the permission, a time-limited grant adds a role until
 * it expires (checked on every call, listed for auditors), and per-principal limits refuse a
 * principal over its tool-call rate or request size with a clear message.
 */
let cloud: LocalCloud;
beforeAll(async () => {
  cloud = await startLocalCloud({
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), 'switchboard-access-')),
    inMemory: true,
    log: () => undefined,
    logLevel: 'SILENT',
    // Tight limits for one role, so a test reaches them in a few calls; the other roles keep the defaults.
    adjustConfig: (config) => ({
      ...config,
      auth: {
        ...config.auth,
        limits: { ...config.auth.limits, byRole: { ...config.auth.limits.byRole, viewer: { toolCallsPerMinute: 3, maxRequestBytes: 2048 } } },
      },
    }),
  });
}, 60_000);
afterAll(() => cloud?.stop());

const READ = ['get_task', 'list_agents', 'list_tasks'];
const EXPECTED: Record<string, string[]> = {
  viewer: READ,
  submitter: [...READ, 'cancel_task', 'start_workflow', 'submit_task'],
  approver: [...READ, 'approve_task', 'reject_task'],
  auditor: [...READ, 'list_role_grants', 'query_audit', 'verify_audit'],
  agent: ['claim_task', 'complete_task', 'fail_task', 'heartbeat_task'],
  admin: [...READ, 'approve_task', 'cancel_task', 'grant_role', 'list_role_grants', 'redrive_dead_letters', 'reject_task', 'revoke_role', 'start_workflow', 'submit_task'],
};

const eras: [string, (token: string) => Promise<ToolClient>][] = [
  ['v1 client, 2025-11-25', (token) => connectV1(cloud.mcpUrl, token)],
  ['v2 client, 2026-07-28', (token) => connectV2(cloud.mcpUrl, token, '2026-07-28')],
];

const names = async (client: ToolClient) => (await client.listTools()).tools.map((tool) => tool.name).sort();
const textOf = (result: { content?: unknown }) => (result.content as { text: string }[])[0]!.text;

describe('access through npm start', () => {
  for (const [era, connect] of eras) {
    it(`${era}: tools/list per role is the policy's, and calls outside a role or an argument answer FORBIDDEN`, async () => {
      for (const [role, tools] of Object.entries(EXPECTED)) {
        const client = await connect(await cloud.token({ tenant: 'acme', roles: [role], subject: `${role}-${era.slice(0, 2)}@acme` }));
        expect(await names(client), role).toEqual([...tools].sort());
        await client.close();
      }
      const viewer = await connect(await cloud.token({ tenant: 'acme', roles: ['viewer'], subject: `viewer-forbidden-${era.slice(0, 2)}` }));
      const refused = await viewer.callTool('submit_task', { capability: 'echo', input: 1 });
      expect(refused.isError).toBe(true);
      expect(textOf(refused)).toMatch(/^FORBIDDEN: submit_task .*not permitted for roles viewer/);
      await viewer.close();

      const submitter = await connect(await cloud.token({ tenant: 'acme', roles: ['submitter'], subject: `submitter-critical-${era.slice(0, 2)}` }));
      const critical = await submitter.callTool('submit_task', { capability: 'echo', input: 1, priority: 'critical' });
      expect(textOf(critical)).toMatch(/^FORBIDDEN: submit_task .*priority critical.*\(critical-priority-admin-only\)/);
      const high = await submitter.callTool('submit_task', { capability: 'echo', input: 1, priority: 'high' });
      expect(high.isError).toBeFalsy();
      await submitter.close();
    });
  }

  it('a granted role counts from the next call until it expires; auditors see the grant', async () => {
    const subject = 'temp-approver@acme';
    const admin = await connectV2(cloud.mcpUrl, await cloud.token({ tenant: 'acme', roles: ['admin'], subject: 'boss@acme' }), '2026-07-28');
    const grantee = await connectV1(cloud.mcpUrl, await cloud.token({ tenant: 'acme', roles: ['viewer'], subject }));
    expect(await names(grantee)).not.toContain('approve_task');

    const until = new Date(Date.now() + 3_000).toISOString();
    const granted = await admin.callTool('grant_role', { subject, role: 'approver', until, reason: 'on call this afternoon' });
    expect(granted.isError, textOf(granted)).toBeFalsy();
    expect(await names(grantee)).toContain('approve_task');

    // Another tenant's principal with the same subject gets nothing from acme's grant.
    const lookalike = await connectV1(cloud.mcpUrl, await cloud.token({ tenant: 'globex', roles: ['viewer'], subject }));
    expect(await names(lookalike)).not.toContain('approve_task');

    // An admin may not hand out the platform's operator role.
    const operator = await admin.callTool('grant_role', { subject, role: 'operator', until });
    expect(textOf(operator)).toMatch(/^FORBIDDEN: grant_role .*operator/);

    await new Promise((resolve) => setTimeout(resolve, Date.parse(until) - Date.now() + 200));
    expect(await names(grantee)).not.toContain('approve_task');

    const auditor = await connectV2(cloud.mcpUrl, await cloud.token({ tenant: 'acme', roles: ['auditor'], subject: 'audit@acme' }), '2026-07-28');
    const listed = await auditor.callTool('list_role_grants', { subject });
    const grants = (listed.structuredContent as { grants: { role: string; status: string; grantedBy: string; reason?: string }[] }).grants;
    expect(grants).toEqual([expect.objectContaining({ role: 'approver', status: 'expired', grantedBy: 'boss@acme', reason: 'on call this afternoon' })]);
    for (const client of [admin, grantee, lookalike, auditor]) await client.close();
  }, 20_000);

  it("limits per principal: over its role's tool calls per minute, RATE_LIMITED with when to retry; over its request size, 413", async () => {
    const token = await cloud.token({ tenant: 'acme', roles: ['viewer'], subject: 'busy-viewer@acme' });
    const viewer = await connectV2(cloud.mcpUrl, token, '2026-07-28');
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await viewer.callTool('list_tasks', {}));
    expect(answers.slice(0, 3).map((answer) => answer.isError ?? false)).toEqual([false, false, false]);
    expect(textOf(answers[3]!)).toMatch(/^RATE_LIMITED: you are over 3 tool calls per minute; retry after \d+ s$/);
    expect(answers[3]!._meta).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) });
    // Another principal of the same tenant is not slowed by this one.
    const other = await connectV2(cloud.mcpUrl, await cloud.token({ tenant: 'acme', roles: ['viewer'], subject: 'calm-viewer@acme' }), '2026-07-28');
    expect((await other.callTool('list_tasks', {})).isError).toBeFalsy();

    const big = await fetch(cloud.mcpUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { _meta: { pad: 'x'.repeat(4096) } } }),
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { message: string } }).error.message).toBe('Request body too large: your requests may carry at most 2048 bytes');
    await viewer.close();
    await other.close();
  });
});
