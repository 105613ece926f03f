import { describe, expect, it } from 'vitest';
import { ForbiddenError, InvalidTransitionError, NotFoundError, ValidationError } from '../../lambdas/domain/errors';
import type { Agent } from '../../lambdas/domain/ports';
import { deregisterAgent, registerAgent, type RegisterAgentDeps } from '../../lambdas/domain/use-cases/register-agents';
import { InMemoryAgentStateStore, ManualClock, principal, silentLogger } from '../../bin/harness/in-memory';

const agentOf = (capability: string): Agent => ({ capability, description: capability, run: async (x) => x });
const setup = (discover: RegisterAgentDeps['discover']) => {
  const agentStates = new InMemoryAgentStateStore();
  const deps: RegisterAgentDeps = { agentStates, discover, configuredAgentIds: new Set(['echo', 'crm']), clock: new ManualClock(), logger: silentLogger };
  return { deps, agentStates };
};
const operator = { ...principal('platform', ['operator']), subject: 'oncall' };

describe('register_agent / deregister_agent', () => {
  it('an operator registers a server: discovered first, recorded with its tools and its connection (the secret named, not held)', async () => {
    const { deps, agentStates } = setup(async () => ({ agents: [agentOf('erp.find_order'), agentOf('erp.cancel_order')], disabled: [{ capability: 'erp.weird', reason: 'schema' }] }));
    const result = await registerAgent(deps, operator, { agentId: 'erp', url: 'https://erp.example.com/mcp', secret: { name: 'erp-token', scheme: 'Bearer' } });
    expect(result).toEqual({ agentId: 'erp', capabilities: ['erp.find_order', 'erp.cancel_order'], disabled: [{ capability: 'erp.weird', reason: 'schema' }] });
    expect(agentStates.items.get('erp')).toMatchObject({
      kind: 'mcp',
      capabilities: ['erp.find_order', 'erp.cancel_order'],
      registration: { name: 'erp', url: 'https://erp.example.com/mcp', secret: { name: 'erp-token', scheme: 'Bearer', header: 'authorization' } },
    });
    expect(await deregisterAgent(deps, operator, { agentId: 'erp' })).toEqual({ agentId: 'erp', deregistered: true });
    expect(agentStates.items.has('erp')).toBe(false);
    await expect(deregisterAgent(deps, operator, { agentId: 'erp' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses: a name configured in cdk.json, plain http to a public host, a server that does not answer or offers nothing; nothing saved', async () => {
    const { deps, agentStates } = setup(async () => {
      throw new Error('downstream MCP server x (https://x.example.com/mcp) did not answer: connection refused');
    });
    await expect(registerAgent(deps, operator, { agentId: 'crm', url: 'https://crm.example.com/mcp' })).rejects.toBeInstanceOf(InvalidTransitionError);
    await expect(registerAgent(deps, operator, { agentId: 'x', url: 'http://x.example.com/mcp' })).rejects.toThrow(/https, or http to localhost/);
    await expect(registerAgent(deps, operator, { agentId: 'x', url: 'https://x.example.com/mcp' })).rejects.toThrow(/did not answer/);
    const empty = setup(async () => ({ agents: [], disabled: [{ capability: 'x.a', reason: 'not an object schema' }] }));
    await expect(registerAgent(empty.deps, operator, { agentId: 'x', url: 'https://x.example.com/mcp' })).rejects.toBeInstanceOf(ValidationError);
    await expect(deregisterAgent(deps, operator, { agentId: 'echo' })).rejects.toBeInstanceOf(InvalidTransitionError);
    expect(agentStates.items.size + empty.agentStates.items.size).toBe(0);
  });
});
