import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import type { TenantQuota } from '../../lambdas/domain/ports';
import { processTask } from '../../lambdas/domain/use-cases/process-task';
import { makeHandler } from '../../lambdas/mcp-gateway/handler';
import { createMcpEndpoint } from '../../lambdas/mcp-gateway/mcp-endpoint';
import { createToolsServer } from '../../lambdas/mcp-gateway/tools';
import type { TaskMethodOptions } from '../../lambdas/mcp-gateway/task-methods';
import { loadWorkflows } from '../../lib/workflows';
import { recordDenial } from '../../lambdas/domain/use-cases/audited-call';
import { InMemoryAgentStateStore, InMemoryAuditDigestStore, InMemoryAuditStore, InMemoryRoleGrants, InMemoryStepStore, InMemoryTaskRepository, ManualClock, platformAccess, RecordingQueue, RecordingWorkflowEngine, silentLogger } from './in-memory';

/**
 * The MCP gateway Lambda handler over in-memory ports, plus a way to run the queued work. Its
 * workflow engine knows the workflows of lib/workflows (so its tool list is npm start's) and runs none.
 */
/** The resource (RFC 8707) the in-memory gateway stands for: the API Gateway URL the unit tests call. */
import { effectivePrincipal } from '../../lambdas/domain/use-cases/role-grants';

export const IN_MEMORY_RESOURCE = 'https://abc123.execute-api.us-east-1.amazonaws.com/v1/mcp';

export const gatewayWithFakes = (
  options: { maxBodyBytes?: number; allowedHosts?: string[]; quota?: TenantQuota; resource?: string; taskMethods?: TaskMethodOptions } = {},
) => {
  const resource = options.resource ?? IN_MEMORY_RESOURCE;
  const deps = {
    tasks: new InMemoryTaskRepository(),
    queue: new RecordingQueue(),
    agents: new StaticAgentRegistry([echoAgent]),
    clock: new ManualClock(new Date()),
    logger: silentLogger,
    access: platformAccess(),
    ...(options.quota ? { quota: options.quota } : {}),
    ...(options.taskMethods ? { taskMethods: options.taskMethods } : {}),
    workflows: new RecordingWorkflowEngine(loadWorkflows().map((workflow) => workflow.name)),
    steps: new InMemoryStepStore(),
    agentStates: new InMemoryAgentStateStore(),
    roleGrants: new InMemoryRoleGrants(),
    audit: new InMemoryAuditStore(),
    auditReading: { digests: new InMemoryAuditDigestStore(), verifier: { verify: async () => false } },
    agentAdmin: {
      discover: async () => {
        throw new Error('no downstream MCP server is reachable from the in-memory gateway');
      },
      configuredAgentIds: new Set(['echo']),
    },
  };
  const endpoint = createMcpEndpoint((call) => createToolsServer(deps, call), {
    maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
    logger: silentLogger,
    resource,
    resolvePrincipal: (principal) => effectivePrincipal(deps, principal, deps.clock.now()),
    recordDenial: async (call, tool, code) => void (await recordDenial({ store: deps.audit, clock: deps.clock, logger: silentLogger }, call, { tool, kind: 'tool', args: null }, code)),
    ...(options.allowedHosts ? { allowedHosts: options.allowedHosts } : {}),
  });
  const handler = makeHandler({ endpoint, logger: silentLogger, resource });
  const runQueued = async () => {
    for (const { message } of deps.queue.sent.splice(0)) {
      await processTask(deps, message, { maxAttempts: 3, leaseMs: 30_000 });
    }
  };
  return { deps, handler, runQueued };
};
