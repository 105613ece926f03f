import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/contracts';
import { auditKeys, type AuditEntry } from '../../lambdas/contracts/audit';
import { startLocalCloud, type LocalCloud } from '../../bin/local-cloud/cloud';
import { connectV1, connectV2, waitForStatus, waitForTerminal, type ToolClient } from '../../bin/harness/mcp-clients';

/**
 * The auditor's path on `npm start` (issue 19's acceptance): people of a tenant submit and approve
 * work through real MCP clients; an auditor of that tenant then asks who did what (query_audit) and
 * verifies the hash chain and its signed digests (verify_audit); a change made behind the platform's
 * back in the table is reported at its seq; another tenant's auditor sees nothing of it.
 */
let cloud: LocalCloud;
let auditTable: string;
let reconciler: string;
beforeAll(async () => {
  cloud = await startLocalCloud({
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), 'switchboard-auditor-')),
    inMemory: true,
    log: () => undefined,
    logLevel: 'SILENT',
  });
  const functions = [...cloud.platform.functions.values()];
  auditTable = functions.find((fn) => fn.entry.includes('mcp-gateway'))!.environment[ENV.auditTable]!;
  reconciler = functions.find((fn) => fn.entry.includes('reconciler'))!.name;
}, 60_000);
afterAll(() => cloud?.stop());

const as = async (tenant: string, subject: string, roles: string[], era: '2025-11-25' | '2026-07-28' = '2026-07-28'): Promise<ToolClient> => {
  const token = await cloud.token({ tenant, subject, roles });
  return era === '2025-11-25' ? connectV1(cloud.mcpUrl, token) : connectV2(cloud.mcpUrl, token, era);
};

type Page = { entries: AuditEntry[]; nextCursor?: string };
const allEntries = async (auditor: ToolClient, filters: Record<string, string> = {}): Promise<AuditEntry[]> => {
  const entries: AuditEntry[] = [];
  let cursor: string | undefined;
  do {
    const result = await auditor.callTool('query_audit', { filters, limit: 200, ...(cursor ? { cursor } : {}) });
    expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
    const page = result.structuredContent as Page;
    entries.push(...page.entries);
    cursor = page.nextCursor;
  } while (cursor);
  return entries;
};

describe('the auditor on npm start', () => {
  it('submit and approve as a tenant, then query who did what and verify the chain as its auditor', async () => {
    const alice = await as('acme', 'alice@acme', ['submitter'], '2025-11-25');
    const bob = await as('acme', 'bob@acme', ['approver']);
    const started = await alice.callTool('start_workflow', { workflow: 'purchase-approval', input: { item: 'laptop', amount: 1800 } });
    const runId = (started.structuredContent as { taskId: string }).taskId;
    await waitForStatus(alice, runId, ['waiting_approval']);
    expect((await bob.callTool('approve_task', { taskId: runId, comment: 'within budget' })).isError).toBeFalsy();
    expect(await waitForTerminal(alice, runId, 20_000)).toMatchObject({ status: 'succeeded' });
    const submitted = await alice.callTool('submit_task', { capability: 'echo', input: { note: 'hello' } });
    const taskId = (submitted.structuredContent as { taskId: string }).taskId;
    await waitForTerminal(alice, taskId);
    // A call outside alice's role: denied, and recorded as such.
    expect((await alice.callTool('approve_task', { taskId: runId })).isError).toBe(true);

    const auditor = await as('acme', 'audrey@acme', ['auditor']);
    const byAlice = await allEntries(auditor, { subject: 'alice@acme' });
    const summary = (entries: AuditEntry[]) => entries.map((e) => `${e.kind} ${e.action} ${e.decision} ${e.outcome.status}${e.target ? ` ${e.target}` : ''}`);
    expect(summary(byAlice)).toEqual(expect.arrayContaining([
      `tool start_workflow allow pending task:${runId}`,
      `tool start_workflow allow ok task:${runId}`,
      `tool submit_task allow pending task:${taskId}`,
      `tool submit_task allow ok task:${taskId}`,
      `access approve_task deny error task:${runId}`,
    ]));
    expect(byAlice.filter((e) => e.action === 'get_task').length).toBeGreaterThan(0);
    const byBob = await allEntries(auditor, { subject: 'bob@acme' });
    expect(summary(byBob)).toEqual([`tool approve_task allow pending task:${runId}`, `tool approve_task allow ok task:${runId}`]);
    // Every outcome completes the intent of its own request.
    const all = await allEntries(auditor);
    for (const outcome of all.filter((e) => e.completes !== undefined)) {
      const intent = all.find((e) => e.seq === outcome.completes)!;
      expect([intent.outcome.status, intent.requestId, intent.action]).toEqual(['pending', outcome.requestId, outcome.action]);
    }
    // Transitions made outside tool calls, by the functions that made them.
    const transitions = all.filter((e) => e.kind === 'transition').map((e) => `${e.subject} ${e.action} ${e.target}`);
    expect(transitions).toEqual(expect.arrayContaining([
      `system:worker task.running task:${taskId}`,
      `system:worker task.succeeded task:${taskId}`,
      `system:workflow run.succeeded task:${runId}`,
    ]));
    // Arguments are never recorded, only their hash.
    expect(JSON.stringify(all)).not.toMatch(/laptop|within budget|hello/);

    // The reconciler signs a digest of the chain; verify checks the chain and the digest.
    await cloud.invoke(reconciler, { source: 'aws.events', 'detail-type': 'Scheduled Event' });
    const verified = (await auditor.callTool('verify_audit', {})).structuredContent as { verified: boolean; entries: number; digests: number; findings: unknown[] };
    expect(verified).toMatchObject({ verified: true, findings: [] });
    expect(verified.entries).toBeGreaterThanOrEqual(all.length);
    expect(verified.digests).toBeGreaterThanOrEqual(1);

    // Someone with write access to the table rewrites bob's approval as alice's: reported at its seq.
    const ddb = new DynamoDBClient(cloud.aws.dynamodb ?? {});
    const approval = byBob.find((e) => e.outcome.status === 'ok')!;
    const key = { pk: { S: auditKeys.tenant('acme') }, sk: { S: auditKeys.seq(approval.seq) } };
    const { Item } = await ddb.send(new GetItemCommand({ TableName: auditTable, Key: key }));
    await ddb.send(new PutItemCommand({ TableName: auditTable, Item: { ...Item!, subject: { S: 'alice@acme' } } }));
    const tampered = (await auditor.callTool('verify_audit', {})).structuredContent as { verified: boolean; findings: { kind: string; seq?: number; toSeq?: number }[] };
    expect(tampered.verified).toBe(false);
    expect(tampered.findings).toContainEqual(expect.objectContaining({ kind: 'altered', seq: approval.seq }));

    // Another tenant's auditor: its own (empty) log, and acme's refused.
    const globex = await as('globex', 'gus@globex', ['auditor']);
    expect((await globex.callTool('query_audit', {})).structuredContent).toMatchObject({ entries: [] });
    const refused = await globex.callTool('verify_audit', { tenant: 'acme' });
    expect(refused.isError).toBe(true);
    for (const client of [alice, bob, auditor, globex]) await client.close();
  }, 60_000);
});
