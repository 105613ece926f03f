import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ENV } from '../../lambdas/contracts';
import { auditKeys } from '../../lambdas/contracts/audit';
import type { LocalCloud } from '../local-cloud/cloud';
import { connectV1, waitForStatus, waitForTerminal } from '../harness/mcp-clients';
import { startEverything } from '../harness/server-everything';

/** What the representative work left: ids, to check that each is back. */
export interface WorkDone {
  tasks: string[];
  runs: string[];
  tenants: string[];
  /** Agents registered at run time (register_agent). */
  agents: string[];
}

/**
 * Representative work on a running local cloud, through MCP with tokens of its provider: echo tasks
 * of two tenants at three priorities, a purchase-approval run an approver approves, a downstream MCP
 * server (the reference server-everything, a child process on loopback) registered by an operator,
 * a read of the agents; then waits until the reconciler has signed a digest of every tenant's audit chain.
 */
export const createRepresentativeWork = async (cloud: LocalCloud, timeoutMs = 20_000): Promise<WorkDone> => {
  const as = async (tenant: string, subject: string, role: string) => connectV1(cloud.mcpUrl, await cloud.token({ tenant, subject, roles: [role] }));
  const [alice, bob, carol, olga] = await Promise.all([
    as('acme', 'alice', 'submitter'),
    as('acme', 'bob', 'approver'),
    as('globex', 'carol', 'submitter'),
    as('acme', 'olga', 'operator'),
  ]);
  const everything = await startEverything();
  const submit = async (client: typeof alice, args: Record<string, unknown>, tool = 'submit_task') => {
    const result = await client.callTool(tool, args);
    if (result.isError) throw new Error(`${tool}: ${JSON.stringify(result.content)}`);
    return (result.structuredContent as { taskId: string }).taskId;
  };
  try {
    const tasks = [
      ...(await Promise.all(['high', 'normal', 'low'].map((priority, i) => submit(alice, { capability: 'echo', input: { drill: i }, priority })))),
      await submit(carol, { capability: 'echo', input: { drill: 'globex' } }),
    ];
    const run = await submit(alice, { workflow: 'purchase-approval', input: { item: 'drill laptop', amount: 1200 } }, 'start_workflow');
    await waitForStatus(alice, run, ['waiting_approval'], timeoutMs);
    const decided = await bob.callTool('approve_task', { taskId: run, comment: 'restore drill' });
    if (decided.isError) throw new Error(`approve_task: ${JSON.stringify(decided.content)}`);
    for (const [client, id] of [...tasks.slice(0, 3).map((id) => [alice, id] as const), [carol, tasks[3]!] as const, [alice, run] as const]) {
      const done = await waitForTerminal(client, id, timeoutMs);
      if (done.status !== 'succeeded') throw new Error(`task ${id} ended ${done.status}`);
    }
    const registered = await olga.callTool('register_agent', { agentId: 'drill-everything', url: everything.url, tools: ['echo'] });
    if (registered.isError) throw new Error(`register_agent: ${JSON.stringify(registered.content)}`);
    await alice.callTool('list_agents', {});
    await waitForDigests(cloud, ['acme', 'globex'], timeoutMs);
    return { tasks, runs: [run], tenants: ['acme', 'globex'], agents: ['drill-everything'] };
  } finally {
    await Promise.all([alice, bob, carol, olga].map((client) => client.close()));
    everything.child.kill();
  }
};

/** Waits until the reconciler has signed a digest of each tenant's chain (it runs on the cloud's schedule). */
const waitForDigests = async (cloud: LocalCloud, tenants: readonly string[], timeoutMs: number) => {
  const table = [...cloud.platform.functions.values()].map((fn) => fn.environment[ENV.auditTable]).find(Boolean);
  if (!table) return;
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ ...cloud.aws.dynamodb }));
  const deadline = Date.now() + timeoutMs;
  try {
    for (const tenant of tenants) {
      for (;;) {
        const { Count } = await doc.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :digest)',
            ExpressionAttributeValues: { ':pk': auditKeys.tenant(tenant), ':digest': auditKeys.digestPrefix },
            ConsistentRead: true,
          }),
        );
        if ((Count ?? 0) > 0) break;
        if (Date.now() > deadline) throw new Error(`no audit digest of tenant ${tenant} was signed within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    doc.destroy();
  }
};
