import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { AgentOutputError, AgentTimeoutError, toAgent, type AgentModule } from '../../lambdas/agents/agent';
import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { ValidationError } from '../../lambdas/domain/errors';
import { processTask } from '../../lambdas/domain/use-cases/process-task';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { InMemoryTaskRepository, ManualClock, principal, RecordingQueue, silentLogger } from '../../bin/harness/in-memory';

const context = { tenantId: 'acme', taskId: `tsk_${'a'.repeat(26)}`, attempt: 1 };

/** A test agent: adds two numbers, or waits for ever when asked to. */
const adder = (overrides: Partial<AgentModule<{ a: number; b: number; hang?: boolean }, { sum: number }>> = {}) =>
  toAgent<{ a: number; b: number; hang?: boolean }, { sum: number }>({
    manifest: { name: 'adder', timeoutSeconds: 0.05, permissions: [] },
    description: 'adds',
    input: z.object({ a: z.number(), b: z.number(), hang: z.boolean().optional() }).strict(),
    output: z.object({ sum: z.number() }).strict(),
    run: ({ a, b, hang }, ctx) =>
      hang ? new Promise((_, reject) => ctx.signal?.addEventListener('abort', () => reject(ctx.signal?.reason))) : Promise.resolve({ sum: a + b }),
    ...overrides,
  });

describe('an agent module run through the Agent port', () => {
  it('parses the input with its schema and returns output that fits its schema', async () => {
    expect(await adder().run({ a: 1, b: 2 }, context)).toEqual({ sum: 3 });
    await expect(adder().run({ a: 1 }, context)).rejects.toBeInstanceOf(z.ZodError);
  });

  it('stops waiting after its manifest timeout, aborting its signal', async () => {
    await expect(adder().run({ a: 1, b: 2, hang: true }, context)).rejects.toBeInstanceOf(AgentTimeoutError);
  });

  it('refuses output outside its own schema', async () => {
    const broken = adder({ run: async () => ({ total: 3 }) as never });
    await expect(broken.run({ a: 1, b: 2 }, context)).rejects.toBeInstanceOf(AgentOutputError);
  });

  it('passes a cancellation (the worker\'s signal) on to the agent', async () => {
    const controller = new AbortController();
    const running = adder({ manifest: { name: 'adder', timeoutSeconds: 60, permissions: [] } }).run({ a: 1, b: 2, hang: true }, { ...context, signal: controller.signal });
    controller.abort(new Error('cancelled'));
    await expect(running).rejects.toThrow('cancelled');
  });

  it('echo, the first built-in agent, returns any JSON input', async () => {
    expect(await echoAgent.run({ deep: [1, { x: null }] }, context)).toEqual({ deep: [1, { x: null }] });
  });
});

describe('agents in the task path', () => {
  const setup = () => ({
    tasks: new InMemoryTaskRepository(),
    queue: new RecordingQueue(),
    agents: new StaticAgentRegistry([echoAgent, adder()]),
    clock: new ManualClock(),
    logger: silentLogger,
  });

  it('refuses at submit an input that does not fit the agent, naming the field, and writes nothing', async () => {
    const deps = setup();
    const refused = submitTask(deps, principal(), { capability: 'adder', input: { a: 1, b: 'two' } });
    await expect(refused).rejects.toBeInstanceOf(ValidationError);
    await expect(refused).rejects.toThrow(/^input\.b does not fit capability "adder"/);
    expect(deps.tasks.writes).toBe(0);
    expect(deps.queue.sent).toHaveLength(0);
  });

  it('fails a task whose agent keeps timing out with AGENT_ERROR after maxAttempts', async () => {
    const deps = setup();
    const view = await submitTask(deps, principal(), { capability: 'adder', input: { a: 1, b: 2, hang: true } });
    const message = { tenantId: 'acme', taskId: view.taskId, priority: 'normal' as const };
    const options = { maxAttempts: 2, leaseMs: 10_000 };
    expect(await processTask(deps, message, options)).toMatchObject({ kind: 'retry' });
    expect(await processTask(deps, message, options)).toEqual({ kind: 'done' });
    expect(await deps.tasks.get('acme', view.taskId)).toMatchObject({ status: 'failed', error: { code: 'AGENT_ERROR', message: 'agent adder ran longer than 0.05 s' } });
  });

  it('a registry built from config enables exactly the named built-in agents, and refuses an unknown name', () => {
    expect(StaticAgentRegistry.fromNames(['echo']).capabilities()).toEqual(['echo']);
    expect(() => StaticAgentRegistry.fromNames(['echo', 'nope'])).toThrow(/unknown agent "nope"/);
  });
});
