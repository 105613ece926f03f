import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { scopeOf } from '../../lambdas/contracts';
import { argumentsHash, type AuditEntry } from '../../lambdas/contracts/audit';
import type { AuditSigner, AuditVerifier } from '../../lambdas/domain/audit';
import { appendAudit } from '../../lambdas/domain/use-cases/audit';
import { auditUpkeep } from '../../lambdas/domain/use-cases/audit-upkeep';
import { apiGatewayFetch } from '../../bin/harness/api-gateway-fetch';
import { InMemoryAuditDigestStore, InMemoryAuditStore, InMemoryTaskRepository, ManualClock, principal, silentLogger } from '../../bin/harness/in-memory';
import { AuditedTaskRepository } from '../../lambdas/domain/audited-tasks';
import type { Task } from '../../lambdas/domain/task';
import { gatewayWithFakes } from '../../bin/harness/in-memory-gateway';
import { connectV2 } from '../../bin/harness/mcp-clients';
import type { Role } from '../../lambdas/domain/principal';

const URL_ = 'https://abc123.execute-api.us-east-1.amazonaws.com/v1/mcp';

const clientFor = async (gateway: ReturnType<typeof gatewayWithFakes>, tenant: string, roles: Role[], extra: { subject?: string; scopes?: string[]; clientId?: string } = {}) =>
  connectV2(URL_, 't', '2026-07-28', apiGatewayFetch(gateway.handler, { ...principal(tenant, roles), ...(extra.subject ? { subject: extra.subject } : {}), ...extra }));

const entriesOf = (gateway: ReturnType<typeof gatewayWithFakes>, tenant: string): AuditEntry[] =>
  [...gateway.deps.audit.tenant(tenant).values()].filter((entry): entry is AuditEntry => entry !== undefined);

const p256 = (): AuditSigner & AuditVerifier => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    keyId: 'test-key',
    sign: async (message) => sign('sha256', message, { key: privateKey, dsaEncoding: 'der' }).toString('base64'),
    verify: async (message, signature, keyId) => keyId === 'test-key' && verify('sha256', message, { key: publicKey, dsaEncoding: 'der' }, Buffer.from(signature, 'base64')),
  };
};

describe('the gateway records every tool call in the tenant audit log', () => {
  it('a change: an intent naming its task before it, an outcome completing it after; arguments only as their hash', async () => {
    const gateway = gatewayWithFakes();
    const client = await clientFor(gateway, 'acme', ['submitter'], { clientId: 'console' });
    const secret = 'marker-7f3a-do-not-record';
    const submitted = await client.callTool('submit_task', { capability: 'echo', input: { secret } });
    const { taskId } = submitted.structuredContent as { taskId: string };
    const [intent, outcome, ...rest] = entriesOf(gateway, 'acme');
    expect(rest).toEqual([]);
    expect(intent).toMatchObject({ seq: 1, kind: 'tool', action: 'submit_task', decision: 'allow', subject: principal().subject, clientId: 'console', outcome: { status: 'pending' }, target: `task:${taskId}` });
    expect(outcome).toMatchObject({ seq: 2, action: 'submit_task', outcome: { status: 'ok' }, completes: 1, requestId: intent!.requestId, prevHash: intent!.hash });
    // The hash of the call's arguments as the tool received them (defaults applied), never the arguments.
    expect(intent!.argumentsHash).toBe(argumentsHash({ capability: 'echo', input: { secret }, priority: 'normal' }));
    expect(JSON.stringify(entriesOf(gateway, 'acme'))).not.toContain(secret);
    // A tool error is the outcome's code.
    await client.callTool('cancel_task', { taskId: 'tsk_aaaaaaaaaaaaaaaaaaaaaaaaaa' });
    expect(entriesOf(gateway, 'acme').at(-1)).toMatchObject({ action: 'cancel_task', outcome: { status: 'error', code: 'NOT_FOUND' }, completes: 3 });
    await client.close();
  });

  it('a read: one entry with its outcome; tenants have chains of their own', async () => {
    const gateway = gatewayWithFakes();
    const acme = await clientFor(gateway, 'acme', ['viewer']);
    const globex = await clientFor(gateway, 'globex', ['viewer']);
    await acme.callTool('list_tasks', {});
    await globex.callTool('list_agents', {});
    await globex.callTool('list_tasks', {});
    expect(entriesOf(gateway, 'acme').map((e) => [e.seq, e.action, e.outcome.status])).toEqual([[1, 'list_tasks', 'ok']]);
    expect(entriesOf(gateway, 'globex').map((e) => [e.seq, e.action, e.outcome.status])).toEqual([[1, 'list_agents', 'ok'], [2, 'list_tasks', 'ok']]);
    expect(await gateway.deps.audit.tenants()).toEqual(['acme', 'globex']);
  });

  it('denials: outside the role, over the arguments allowed, and for a missing scope, each one access entry', async () => {
    const gateway = gatewayWithFakes();
    const submitter = await clientFor(gateway, 'acme', ['submitter']);
    expect((await submitter.callTool('grant_role', { subject: 'x', role: 'viewer', until: new Date(Date.now() + 3600_000).toISOString(), reason: 'r' })).isError).toBe(true);
    expect((await submitter.callTool('submit_task', { capability: 'echo', input: 1, priority: 'critical' })).isError).toBe(true);
    const scoped = await clientFor(gateway, 'acme', ['submitter'], { scopes: [scopeOf('tasks.read')] });
    await expect(scoped.callTool('submit_task', { capability: 'echo', input: 1 })).rejects.toThrow(/Insufficient scope/);
    expect(entriesOf(gateway, 'acme').map((e) => [e.kind, e.action, e.decision, e.outcome])).toEqual([
      ['access', 'grant_role', 'deny', { status: 'error', code: 'FORBIDDEN' }],
      ['access', 'submit_task', 'deny', { status: 'error', code: 'FORBIDDEN' }],
      ['access', 'submit_task', 'deny', { status: 'error', code: 'INSUFFICIENT_SCOPE' }],
    ]);
    expect(gateway.deps.tasks.items.size).toBe(0);
  });

  it('nothing is done unrecorded: when the audit log cannot be written, the call is refused and creates nothing', async () => {
    const gateway = gatewayWithFakes();
    gateway.deps.audit.append = async () => {
      throw new Error('audit table unavailable');
    };
    const client = await clientFor(gateway, 'acme', ['submitter']);
    const submitted = await client.callTool('submit_task', { capability: 'echo', input: 1 });
    expect(submitted).toMatchObject({ isError: true, content: [{ text: expect.stringMatching(/^AUDIT_UNAVAILABLE: /) }] });
    expect(gateway.deps.tasks.items.size).toBe(0);
    const read = await client.callTool('list_tasks', {});
    expect(read.isError).toBe(true);
  });

  it('verify_audit and query_audit: auditors of the tenant; another tenant only for a platform-wide auditor', async () => {
    const gateway = gatewayWithFakes();
    const submitter = await clientFor(gateway, 'acme', ['submitter'], { subject: 'alice' });
    await submitter.callTool('submit_task', { capability: 'echo', input: 1 });
    await submitter.callTool('list_tasks', {});
    const auditor = await clientFor(gateway, 'acme', ['auditor'], { subject: 'audrey' });
    const verified = await auditor.callTool('verify_audit', {});
    expect(verified.structuredContent).toMatchObject({ tenantId: 'acme', fromSeq: 1, toSeq: 3, entries: 3, verified: true, findings: [] });
    const byAlice = await auditor.callTool('query_audit', { filters: { subject: 'alice' }, limit: 2 });
    const page = byAlice.structuredContent as { entries: AuditEntry[]; nextCursor?: string };
    expect(page.entries.map((e) => [e.action, e.outcome.status])).toEqual([['submit_task', 'pending'], ['submit_task', 'ok']]);
    expect(page.nextCursor).toBe('2');
    const next = (await auditor.callTool('query_audit', { filters: { subject: 'alice' }, cursor: page.nextCursor })).structuredContent as { entries: AuditEntry[] };
    expect(next.entries.map((e) => e.action)).toEqual(['list_tasks']);

    // Tampering shows: an entry altered in the store.
    const log = gateway.deps.audit.tenant('acme');
    log.set(2, { ...log.get(2)!, subject: 'mallory' });
    const tampered = (await auditor.callTool('verify_audit', {})).structuredContent as { verified: boolean; findings: { kind: string; seq?: number }[] };
    expect(tampered.verified).toBe(false);
    expect(tampered.findings).toContainEqual(expect.objectContaining({ kind: 'altered', seq: 2 }));

    // Another tenant's log: refused (and recorded) for a tenant auditor, served to a platform-wide one.
    const denied = await auditor.callTool('query_audit', { tenant: 'globex' });
    expect(denied).toMatchObject({ isError: true, content: [{ text: expect.stringContaining('audit-any-tenant-platform-auditor-only') }] });
    const platform = await clientFor(gateway, 'platform', ['auditor', 'operator']);
    expect((await platform.callTool('query_audit', { tenant: 'acme', limit: 1 })).structuredContent).toMatchObject({ entries: [{ seq: 1, tenantId: 'acme' }] });
    // Hostile arguments: a schema error, nothing read.
    expect((await auditor.callTool('verify_audit', { from: 5, to: 2 })).isError).toBe(true);
    expect((await auditor.callTool('query_audit', { cursor: '../../etc' })).isError).toBe(true);
  });
});

describe('audit upkeep (the reconciler): open intents completed, digests signed', () => {
  it('completes an intent left open past its grace from its task, signs up to the oldest intent still in its grace, refuses a tampered chain', async () => {
    const gateway = gatewayWithFakes();
    const { audit, clock, tasks } = gateway.deps;
    const digests = new InMemoryAuditDigestStore();
    const signer = p256();
    const client = await clientFor(gateway, 'acme', ['submitter']);
    const { taskId } = (await client.callTool('submit_task', { capability: 'echo', input: 1 })).structuredContent as { taskId: string };
    // Two intents a dying gateway left without outcome: one whose task exists, one whose never came to be.
    const base = { tenantId: 'acme', subject: 'alice', kind: 'tool' as const, action: 'cancel_task', decision: 'allow' as const, outcome: { status: 'pending' as const } };
    clock.advance(1000);
    await appendAudit({ store: audit, clock }, { ...base, requestId: 'r-dead-1', target: `task:${taskId}` });
    await tasks.update((await tasks.get('acme', taskId))!, { status: 'cancelled' }, clock.now());
    await appendAudit({ store: audit, clock }, { ...base, action: 'submit_task', requestId: 'r-dead-2', target: 'task:01JNEVERCREATED0000000000' });
    clock.advance(10 * 60_000);
    // One more, fresh: still within its grace.
    await appendAudit({ store: audit, clock }, { ...base, requestId: 'r-live', target: `task:${taskId}` });
    const deps = { store: audit, digests, signer, tasks, clock, logger: gateway.deps.logger };

    const first = await auditUpkeep(deps);
    expect(first).toMatchObject({ tenants: 1, completed: 2, digests: 1, tampered: [] });
    const completions = entriesOf(gateway, 'acme').filter((e) => e.subject === 'system:reconciler');
    expect(completions.map((e) => [e.completes, e.outcome])).toEqual([[3, { status: 'ok' }], [4, { status: 'error', code: 'ABANDONED' }]]);
    expect(digests.digests.map((d) => [d.digest.fromSeq, d.digest.toSeq])).toEqual([[1, 4]]);

    // Later the fresh intent is past its grace too: completed, and the next digest continues the last.
    clock.advance(10 * 60_000);
    expect(await auditUpkeep(deps)).toMatchObject({ completed: 1, digests: 1 });
    const head = (await audit.head('acme'))!.seq;
    expect(digests.digests.map((d) => [d.digest.fromSeq, d.digest.toSeq])).toEqual([[1, 4], [5, head]]);
    expect(await auditUpkeep(deps)).toMatchObject({ completed: 0, digests: 0 });

    // A chain that no longer verifies is never signed.
    await client.callTool('list_tasks', {});
    const log = audit.tenant('acme');
    log.set(head + 1, { ...log.get(head + 1)!, action: 'get_task' });
    expect((await auditUpkeep(deps)).tampered).toEqual(['acme']);
    expect(digests.digests).toHaveLength(2);
  });
});

describe('transitions outside tool calls (AuditedTaskRepository)', () => {
  const task = (): Task => ({
    tenantId: 'acme',
    taskId: 'tsk_aaaaaaaaaaaaaaaaaaaaaaaaab',
    capability: 'echo',
    input: { secret: 'do-not-record' },
    priority: 'low',
    status: 'queued',
    version: 0,
    attempts: 0,
    requestHash: 'h',
    submittedBy: 'alice',
    dispatchPending: false,
    createdAt: '2026-11-25T12:00:00.000Z',
    updatedAt: '2026-11-25T12:00:00.000Z',
  });

  it('records each status change and promotion once, as the function that made it; other writes, nothing', async () => {
    const store = new InMemoryAuditStore();
    const clock = new ManualClock();
    const errors: string[] = [];
    const logger = { ...silentLogger, error: (message: string) => void errors.push(message) };
    const tasks = new AuditedTaskRepository(new InMemoryTaskRepository(), { store, clock, logger }, 'worker');
    const created = (await tasks.create(task())).task;
    expect((await tasks.create(task())).created).toBe(false); // a replay creates nothing, records nothing
    const promoted = await tasks.update(created, { priority: 'normal' }, clock.now());
    const running = await tasks.update(promoted, { status: 'running', attempts: 1 }, clock.now());
    const again = await tasks.update(running, { attempts: 2 }, clock.now());
    await tasks.update(again, { status: 'failed', error: { code: 'AGENT_FAILED', message: 'boom' } }, clock.now());
    const log = [...store.tenant('acme').values()];
    expect(log.map((e) => [e!.kind, e!.action, e!.subject, e!.outcome, e!.requestId])).toEqual([
      ['transition', 'task.queued', 'system:worker', { status: 'ok' }, 'tsk_aaaaaaaaaaaaaaaaaaaaaaaaab#v0'],
      ['transition', 'task.promoted', 'system:worker', { status: 'ok' }, 'tsk_aaaaaaaaaaaaaaaaaaaaaaaaab#v1'],
      ['transition', 'task.running', 'system:worker', { status: 'ok' }, 'tsk_aaaaaaaaaaaaaaaaaaaaaaaaab#v2'],
      ['transition', 'task.failed', 'system:worker', { status: 'error', code: 'AGENT_FAILED' }, 'tsk_aaaaaaaaaaaaaaaaaaaaaaaaab#v4'],
    ]);
    expect(JSON.stringify(log)).not.toContain('do-not-record');

    // The audit log unavailable: the write stands, the miss is an ERROR line.
    store.append = async () => {
      throw new Error('down');
    };
    const other = await tasks.create({ ...task(), taskId: 'tsk_aaaaaaaaaaaaaaaaaaaaaaaaac' });
    expect(other.created).toBe(true);
    expect(errors).toEqual(['audit transition not recorded']);
  });
});
