import { describe, expect, it } from 'vitest';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { INLINE_OUTPUT_BYTES, STEP_ERRORS } from '../../lambdas/contracts/workflows';
import { randomTaskId } from '../../lambdas/domain/ids';
import type { Agent, Logger } from '../../lambdas/domain/ports';
import type { Task, TaskStatus } from '../../lambdas/domain/task';
import { resolveRefs, runStep, stepRef, type RunStepEvent } from '../../lambdas/domain/use-cases/run-step';
import { InMemoryStepStore, InMemoryTaskRepository, ManualClock } from '../../bin/harness/in-memory';

/** An agent that counts its runs and answers what `answer` makes of the input (or throws). */
const countingAgent = (capability: string, answer: (input: unknown, call: number) => unknown) => {
  const agent = {
    capability,
    description: capability,
    calls: 0,
    inputs: [] as unknown[],
    run: async (input: unknown) => {
      agent.calls += 1;
      agent.inputs.push(input);
      return answer(input, agent.calls);
    },
  };
  return agent;
};

const echo = () => countingAgent('echo', (input) => ({ echoed: input }));
/** Fails its first `failures` runs, then echoes. */
const flaky = (failures: number) =>
  countingAgent('flaky', (input, call) => {
    if (call <= failures) throw new Error(`boom ${call}`);
    return { echoed: input };
  });
const BIG_TEXT = 'x'.repeat(INLINE_OUTPUT_BYTES + 1);
const big = () => countingAgent('big', () => ({ text: BIG_TEXT, list: [1, 2, 3] }));

const recordingLogger = () => {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, ...extra: Record<string, unknown>[]) => lines.push({ level, message, fields: Object.assign({}, ...extra) });
  const logger: Logger = { info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
};

const setup = async (agents: Agent[], status: TaskStatus = 'running') => {
  const tasks = new InMemoryTaskRepository();
  const steps = new InMemoryStepStore();
  const { logger, lines } = recordingLogger();
  const deps = { tasks, steps, agents: new StaticAgentRegistry(agents), clock: new ManualClock(), logger };
  const at = '2026-11-25T12:00:00.000Z';
  const run: Task = {
    tenantId: 'acme', taskId: randomTaskId(), capability: 'workflow.demo', input: {}, priority: 'normal', status, version: 0,
    attempts: 1, requestHash: 'h', submittedBy: 'u', dispatchPending: false, createdAt: at, updatedAt: at,
  };
  await tasks.create(run);
  const event = (stepId: string, capability: string, input: unknown = { n: 1 }, timeoutSeconds = 5): RunStepEvent => ({
    action: 'run', run: { tenantId: 'acme', taskId: run.taskId }, stepId, capability, input, timeoutSeconds,
  });
  return { deps, run, event, lines };
};

describe('runStep', () => {
  it('runs the agent and records the step succeeded with its output', async () => {
    const agent = echo();
    const { deps, run, event, lines } = await setup([agent]);
    expect(await runStep(deps, event('first', 'echo', { hello: 'world' }))).toEqual({ output: { echoed: { hello: 'world' } } });
    expect(await deps.steps.get('acme', run.taskId, 'first')).toMatchObject({
      kind: 'agent', status: 'succeeded', attempts: 1, capability: 'echo', output: { echoed: { hello: 'world' } }, version: 1,
      finishedAt: '2026-11-25T12:00:00.000Z',
    });
    expect(lines.find((line) => line.message === 'step succeeded')?.fields).toEqual({ tenantId: 'acme', runId: run.taskId, stepId: 'first', attempt: 1 });
  });

  it('returns the stored output again without running the agent after a success', async () => {
    const agent = echo();
    const { deps, event } = await setup([agent]);
    const first = await runStep(deps, event('first', 'echo'));
    const writes = deps.steps.writes;
    expect(await runStep(deps, event('first', 'echo'))).toEqual(first);
    expect(agent.calls).toBe(1);
    expect(deps.steps.writes).toBe(writes);
  });

  it.each(['cancelled', 'failed', 'succeeded', 'queued'] as const)('refuses a step of a %s run (RunClosed) and never runs the agent', async (status) => {
    const agent = echo();
    const { deps, run, event } = await setup([agent], status);
    await expect(runStep(deps, event('first', 'echo'))).rejects.toMatchObject({ name: STEP_ERRORS.runClosed });
    expect(agent.calls).toBe(0);
    expect(await deps.steps.get('acme', run.taskId, 'first')).toBeUndefined();
  });

  it('refuses a step of a run that does not exist (RunClosed)', async () => {
    const agent = echo();
    const { deps, event } = await setup([agent]);
    const orphan = { ...event('first', 'echo'), run: { tenantId: 'acme', taskId: randomTaskId() } };
    await expect(runStep(deps, orphan)).rejects.toMatchObject({ name: STEP_ERRORS.runClosed });
    expect(agent.calls).toBe(0);
  });

  it('records a failed attempt and throws StepFailed; the next attempt counts and succeeds', async () => {
    const agent = flaky(2);
    const { deps, run, event } = await setup([agent]);
    const error = await runStep(deps, event('work', 'flaky')).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: STEP_ERRORS.failed, message: 'boom 1' });
    expect((error as Error).stack).toBeDefined();
    expect(await deps.steps.get('acme', run.taskId, 'work')).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'AGENT_ERROR', message: 'boom 1' } });
    await expect(runStep(deps, event('work', 'flaky'))).rejects.toMatchObject({ name: STEP_ERRORS.failed, message: 'boom 2' });
    expect(await deps.steps.get('acme', run.taskId, 'work')).toMatchObject({ status: 'failed', attempts: 2 });
    expect(await runStep(deps, event('work', 'flaky'))).toEqual({ output: { echoed: { n: 1 } } });
    const done = await deps.steps.get('acme', run.taskId, 'work');
    expect(done).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(done?.error).toBeUndefined();
  });

  it('keeps a failure message short and without a stack', async () => {
    const noisy = countingAgent('noisy', () => {
      throw new Error('y'.repeat(5000));
    });
    const { deps, run, event } = await setup([noisy]);
    await expect(runStep(deps, event('work', 'noisy'))).rejects.toMatchObject({ name: STEP_ERRORS.failed, message: 'y'.repeat(300) });
    expect((await deps.steps.get('acme', run.taskId, 'work'))?.error).toEqual({ code: 'AGENT_ERROR', message: 'y'.repeat(300) });
  });

  it('records UNKNOWN_CAPABILITY and throws StepFailed for a capability that is not enabled', async () => {
    const { deps, run, event } = await setup([echo()]);
    await expect(runStep(deps, event('work', 'missing'))).rejects.toMatchObject({ name: STEP_ERRORS.failed });
    expect(await deps.steps.get('acme', run.taskId, 'work')).toMatchObject({ status: 'failed', error: { code: 'UNKNOWN_CAPABILITY' } });
  });

  it('aborts an agent that hangs and throws StepTimedOut within the step timeout', async () => {
    let signal: AbortSignal | undefined;
    const hang: Agent = { capability: 'hang', description: 'never answers', run: (_input, context) => ((signal = context.signal), new Promise(() => undefined)) };
    const { deps, run, event } = await setup([hang]);
    const started = Date.now();
    await expect(runStep(deps, event('slow', 'hang', {}, 1))).rejects.toMatchObject({ name: STEP_ERRORS.timedOut });
    expect(Date.now() - started).toBeLessThan(1_900);
    expect(signal?.aborted).toBe(true);
    expect(await deps.steps.get('acme', run.taskId, 'slow')).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'STEP_TIMEOUT' } });
  });

  it('returns a big output by reference, and resolves that reference in a later step\'s input', async () => {
    const producer = big();
    const consumer = echo();
    const { deps, run, event } = await setup([producer, consumer]);
    const produced = await runStep(deps, event('fetch', 'big'));
    expect(produced).toEqual({ output: stepRef('fetch') });
    expect((await deps.steps.get('acme', run.taskId, 'fetch'))?.output).toEqual({ text: BIG_TEXT, list: [1, 2, 3] });
    // The replay of a succeeded big step gives the reference too.
    expect(await runStep(deps, event('fetch', 'big'))).toEqual({ output: stepRef('fetch') });

    const input = { doc: produced.output, nested: [{ again: { $ref: 'step:fetch' } }], plain: { $ref: 'not-a-step' } };
    const consumed = await runStep(deps, event('summarize', 'echo', input));
    const full = { text: BIG_TEXT, list: [1, 2, 3] };
    expect(consumer.inputs[0]).toEqual({ doc: full, nested: [{ again: full }], plain: { $ref: 'not-a-step' } });
    expect(consumed).toEqual({ output: stepRef('summarize') });
  });

  it('throws StepFailed for a reference to a step without output, and never runs the agent', async () => {
    const agent = echo();
    const { deps, run, event } = await setup([agent, flaky(5)]);
    await expect(runStep(deps, event('work', 'echo', { from: { $ref: 'step:nowhere' } }))).rejects.toMatchObject({
      name: STEP_ERRORS.failed,
      message: expect.stringContaining('"nowhere"'),
    });
    expect(agent.calls).toBe(0);
    expect(await deps.steps.get('acme', run.taskId, 'work')).toMatchObject({ status: 'failed', error: { code: 'UNRESOLVED_REF' } });
    // A step that only failed has no output to refer to either.
    await runStep(deps, event('broken', 'flaky')).catch(() => undefined);
    await expect(runStep(deps, event('other', 'echo', { $ref: 'step:broken' }))).rejects.toMatchObject({ name: STEP_ERRORS.failed });
  });

  it('returns the output of an attempt that won a race instead of running again', async () => {
    const agent = echo();
    const { deps, run, event } = await setup([agent]);
    await runStep(deps, event('first', 'echo'));
    const stored = (await deps.steps.get('acme', run.taskId, 'first'))!;
    // This attempt read the step before the other one finished: its save of the attempt conflicts.
    const stale = { ...deps.steps, get: async () => ({ ...stored, status: 'failed' as const, version: stored.version - 1 }) };
    let reads = 0;
    const racing = {
      ...deps,
      steps: {
        get: async (...args: Parameters<typeof deps.steps.get>) => (reads++ === 0 ? stale.get() : deps.steps.get(...args)),
        list: deps.steps.list.bind(deps.steps),
        save: deps.steps.save.bind(deps.steps),
      },
    };
    expect(await runStep(racing, event('first', 'echo'))).toEqual({ output: { echoed: { n: 1 } } });
    expect(agent.calls).toBe(1);
  });
});

describe('resolveRefs', () => {
  it('leaves values deeper than its bound as they are, and never grows the stack', async () => {
    let deep: unknown = { $ref: 'step:a' };
    for (let i = 0; i < 100_000; i += 1) deep = [deep];
    const resolved = await resolveRefs({ top: { $ref: 'step:a' }, deep }, async () => 'A');
    expect((resolved as { top: unknown }).top).toBe('A');
  });

  it('keeps key order, arrays and plain values', async () => {
    const resolved = await resolveRefs({ b: 1, a: [null, 'x', { $ref: 'step:s' }], c: { d: true } }, async (id) => ({ id }));
    expect(JSON.stringify(resolved)).toBe('{"b":1,"a":[null,"x",{"id":"s"}],"c":{"d":true}}');
  });
});
