import { describe, expect, it } from 'vitest';
import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { ForbiddenError, InvalidTransitionError, NotFoundError, UnknownCapabilityError } from '../../lambdas/domain/errors';
import { cancelTask } from '../../lambdas/domain/use-cases/cancel-task';
import { processTask } from '../../lambdas/domain/use-cases/process-task';
import { claimTask, completeTask, failTask, heartbeatTask, type ClaimResult } from '../../lambdas/domain/use-cases/pull-tasks';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { InFlightQuota, InMemoryTaskRepository, ManualClock, principal, RecordingQueue, silentLogger, TerminalEvents } from '../../bin/harness/in-memory';

/** External agents pull tasks of pull capabilities over MCP: claim under a lease, heartbeat, complete or fail. */

const LEASE_MS = 10_000;

const setup = () => {
  const clock = new ManualClock();
  const terminal = new TerminalEvents();
  const quota = new InFlightQuota(100);
  const deps = {
    tasks: new InMemoryTaskRepository(),
    queue: new RecordingQueue(),
    agents: new StaticAgentRegistry([echoAgent]),
    clock,
    logger: silentLogger,
    telemetry: terminal,
    quota,
    pullCapabilities: ['translate', 'ocr'],
    pull: { leaseMs: LEASE_MS, maxAttempts: 3 },
    sleep: async (ms: number) => clock.advance(ms),
  };
  const submit = async (capability = 'translate', tenant = 'acme', input: unknown = { text: 'hallo' }) => {
    const view = await submitTask(deps, principal(tenant), { capability, input });
    clock.advance(1); // distinct creation times: "oldest first" is observable
    return view.taskId;
  };
  const agent = (tenant = 'acme') => principal(tenant, ['agent']);
  const claim = async (tenant = 'acme', capabilities = ['translate']) => claimTask(deps, agent(tenant), { capabilities });
  const claimed = (result: ClaimResult) => {
    if ('task' in result) throw new Error('nothing claimed');
    return result;
  };
  return { deps, clock, terminal, quota, submit, agent, claim, claimed };
};

describe('submitting a pull capability', () => {
  it('accepts any JSON input for it, marks the task pulled, and the worker acks its message without running it', async () => {
    const { deps, submit } = setup();
    const taskId = await submit('translate', 'acme', [1, { any: 'json' }]);
    const message = deps.queue.sent.find((s) => s.message.taskId === taskId)!.message;
    expect(await processTask(deps, message, { maxAttempts: 3, leaseMs: LEASE_MS })).toEqual({ kind: 'done' });
    expect(await deps.tasks.get('acme', taskId)).toMatchObject({ status: 'queued', pull: true, attempts: 0 });
  });

  it('refuses a capability that is neither an agent\'s nor a pull capability, naming both kinds', async () => {
    const { submit } = setup();
    await expect(submit('nope')).rejects.toThrow(UnknownCapabilityError);
    await expect(submit('nope')).rejects.toThrow(/echo, translate, ocr/);
  });

  it('a task queued before its capability became a pull capability is offered to agents by the worker', async () => {
    const { deps, claim, claimed } = setup();
    const before = await submitTask({ ...deps, pullCapabilities: [], agents: new StaticAgentRegistry([{ ...echoAgent, capability: 'translate' }]) }, principal(), {
      capability: 'translate',
      input: 1,
    });
    const message = deps.queue.sent.find((s) => s.message.taskId === before.taskId)!.message;
    expect(await processTask(deps, message, { maxAttempts: 3, leaseMs: LEASE_MS })).toEqual({ kind: 'done' });
    expect(claimed(await claim()).taskId).toBe(before.taskId);
  });
});

describe('claim_task', () => {
  it('claims the oldest claimable task of the capabilities asked for, under a fresh lease, attempt 1', async () => {
    const { clock, submit, claim, claimed } = setup();
    const ocr = await submit('ocr');
    const first = await submit('translate');
    await submit('translate');
    const result = claimed(await claim('acme', ['translate']));
    expect(result).toMatchObject({ taskId: first, capability: 'translate', input: { text: 'hallo' }, attempt: 1 });
    expect(result.leaseId).toMatch(/^lse_/);
    expect(Date.parse(result.leaseUntil)).toBe(clock.now().getTime() + LEASE_MS);
    expect(claimed(await claim('acme', ['ocr', 'translate'])).taskId).toBe(ocr);
  });

  it('answers { task: null } when none is claimable, after long-polling waitSeconds', async () => {
    const { deps, clock, agent } = setup();
    const started = clock.now().getTime();
    expect(await claimTask(deps, agent(), { capabilities: ['translate'], waitSeconds: 2 })).toEqual({ task: null });
    expect(clock.now().getTime() - started).toBe(2_000);
  });

  it('a long poll returns the task submitted while it waits', async () => {
    const { deps, agent, submit } = setup();
    let submitted: string | undefined;
    const polling = claimTask({ ...deps, sleep: async (ms) => { deps.clock.advance(ms); submitted ??= await submit(); } }, agent(), { capabilities: ['translate'], waitSeconds: 5 });
    expect(await polling).toMatchObject({ taskId: submitted });
  });

  it('never claims another tenant\'s task', async () => {
    const { submit, claim } = setup();
    await submit('translate', 'globex');
    expect(await claim('acme')).toEqual({ task: null });
  });

  it('is only for pull capabilities (who may claim is the access policy\'s: test/unit/access-policy.test.ts)', async () => {
    const { deps, submit } = setup();
    await submit();
    await expect(claimTask(deps, principal('acme', ['agent']), { capabilities: ['echo'] })).rejects.toThrow('none of echo is a pull capability');
  });

  it('two agents racing: each task is claimed once', async () => {
    const { submit, claim, claimed } = setup();
    const ids = [await submit(), await submit()];
    const results = await Promise.all([claim(), claim(), claim()]);
    const won = results.filter((r) => !('task' in r)).map((r) => claimed(r).taskId);
    expect(won.sort()).toEqual([...ids].sort());
  });
});

describe('under a lease', () => {
  it('heartbeat extends the lease; complete succeeds the task once and gives the slot back', async () => {
    const { deps, clock, terminal, quota, submit, agent, claim, claimed } = setup();
    const taskId = await submit();
    const { leaseId } = claimed(await claim());
    clock.advance(LEASE_MS - 1);
    const beat = await heartbeatTask(deps, agent(), { taskId, leaseId });
    expect(Date.parse(beat.leaseUntil)).toBe(clock.now().getTime() + LEASE_MS);
    clock.advance(LEASE_MS - 1);
    expect(await claim()).toEqual({ task: null }); // still held thanks to the heartbeat
    expect(await completeTask(deps, agent(), { taskId, leaseId, output: { text: 'hello' } })).toEqual({ taskId, status: 'succeeded' });
    expect(await deps.tasks.get('acme', taskId)).toMatchObject({ status: 'succeeded', result: { text: 'hello' } });
    expect((await deps.tasks.get('acme', taskId))!.leaseId).toBeUndefined();
    expect(terminal.byTask.get(taskId)).toEqual(['succeeded']);
    expect(quota.inFlight.get('acme')).toBe(0);
    await expect(completeTask(deps, agent(), { taskId, leaseId, output: 2 })).rejects.toThrow(`your lease on task ${taskId} is no longer valid`);
  });

  it('a stale or unknown lease id is refused by heartbeat, complete and fail', async () => {
    const { deps, submit, agent, claim, claimed } = setup();
    const taskId = await submit();
    claimed(await claim());
    const unknown = 'lse_AAAAAAAAAAAAAAAAAAAAAA';
    const refused = `your lease on task ${taskId} is no longer valid`;
    await expect(heartbeatTask(deps, agent(), { taskId, leaseId: unknown })).rejects.toThrow(refused);
    await expect(completeTask(deps, agent(), { taskId, leaseId: unknown, output: 1 })).rejects.toThrow(refused);
    await expect(failTask(deps, agent(), { taskId, leaseId: unknown, error: { code: 'X', message: 'x' }, retryable: false })).rejects.toThrow(refused);
    expect(await deps.tasks.get('acme', taskId)).toMatchObject({ status: 'running' });
  });

  it('another tenant\'s task is not found under any lease', async () => {
    const { deps, submit, agent, claim, claimed } = setup();
    const taskId = await submit('translate', 'globex');
    const { leaseId } = claimed(await claim('globex'));
    await expect(completeTask(deps, agent('acme'), { taskId, leaseId, output: 1 })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('fail retryable with attempts left: queued again, lease gone, claimable by the next agent as attempt 2', async () => {
    const { deps, terminal, submit, agent, claim, claimed } = setup();
    const taskId = await submit();
    const { leaseId } = claimed(await claim());
    expect(await failTask(deps, agent(), { taskId, leaseId, error: { code: 'BUSY', message: 'try later' }, retryable: true })).toEqual({ taskId, status: 'queued' });
    const task = (await deps.tasks.get('acme', taskId))!;
    expect(task).toMatchObject({ status: 'queued', attempts: 1 });
    expect(task.leaseId).toBeUndefined();
    expect(task.leaseUntil).toBeUndefined();
    const again = claimed(await claim());
    expect(again).toMatchObject({ taskId, attempt: 2 });
    expect(again.leaseId).not.toBe(leaseId);
    expect(terminal.byTask.get(taskId)).toBeUndefined();
  });

  it('fail not retryable, or retryable on the last attempt: failed with the agent\'s code, once', async () => {
    const { deps, terminal, submit, agent, claim, claimed } = setup();
    const hard = await submit();
    const { leaseId } = claimed(await claim());
    expect(await failTask(deps, agent(), { taskId: hard, leaseId, error: { code: 'BAD_DOCUMENT', message: 'unreadable' }, retryable: false })).toEqual({ taskId: hard, status: 'failed' });
    expect(await deps.tasks.get('acme', hard)).toMatchObject({ status: 'failed', error: { code: 'BAD_DOCUMENT', message: 'unreadable' } });

    const soft = await submit();
    for (let attempt = 1; attempt <= 3; attempt++) {
      const claim_ = claimed(await claim());
      expect(claim_).toMatchObject({ taskId: soft, attempt });
      await failTask(deps, agent(), { taskId: soft, leaseId: claim_.leaseId, error: { code: 'BUSY', message: 'later' }, retryable: true });
    }
    expect(await deps.tasks.get('acme', soft)).toMatchObject({ status: 'failed', error: { code: 'BUSY' }, attempts: 3 });
    expect(terminal.byTask.get(hard)).toEqual(['failed']);
    expect(terminal.byTask.get(soft)).toEqual(['failed']);
  });

  it('an expired lease: the silent agent\'s task is reassigned with attempt + 1, and the silent agent is refused', async () => {
    const { deps, clock, submit, agent, claim, claimed } = setup();
    const taskId = await submit();
    const silent = claimed(await claim());
    clock.advance(LEASE_MS - 1);
    expect(await claim()).toEqual({ task: null });
    clock.advance(1);
    await expect(heartbeatTask(deps, agent(), { taskId, leaseId: silent.leaseId })).rejects.toThrow(/no longer valid/);
    const next = claimed(await claim());
    expect(next).toMatchObject({ taskId, attempt: 2 });
    await expect(completeTask(deps, agent(), { taskId, leaseId: silent.leaseId, output: 'late' })).rejects.toThrow(/no longer valid/);
    await completeTask(deps, agent(), { taskId, leaseId: next.leaseId, output: 'done' });
    expect(await deps.tasks.get('acme', taskId)).toMatchObject({ status: 'succeeded', result: 'done', attempts: 2 });
  });

  it('an expired lease not yet reassigned is still the agent\'s to complete (nobody else ran the task)', async () => {
    const { deps, clock, submit, agent, claim, claimed } = setup();
    const taskId = await submit();
    const { leaseId } = claimed(await claim());
    clock.advance(LEASE_MS * 2);
    expect(await completeTask(deps, agent(), { taskId, leaseId, output: 1 })).toEqual({ taskId, status: 'succeeded' });
  });

  it('a silent agent on the last attempt: the next claim fails the task ATTEMPTS_EXHAUSTED instead', async () => {
    const { deps, clock, terminal, submit, claim } = setup();
    const taskId = await submit();
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(await claim()).toMatchObject({ taskId, attempt });
      clock.advance(LEASE_MS);
    }
    expect(await claim()).toEqual({ task: null });
    expect(await deps.tasks.get('acme', taskId)).toMatchObject({ status: 'failed', error: { code: 'ATTEMPTS_EXHAUSTED' } });
    expect(terminal.byTask.get(taskId)).toEqual(['failed']);
  });

  it('a cancelled task takes the lease away', async () => {
    const { deps, submit, agent, claim, claimed } = setup();
    const taskId = await submit();
    const { leaseId } = claimed(await claim());
    await cancelTask(deps, principal(), { taskId });
    await expect(completeTask(deps, agent(), { taskId, leaseId, output: 1 })).rejects.toBeInstanceOf(InvalidTransitionError);
    expect(await deps.tasks.get('acme', taskId)).toMatchObject({ status: 'cancelled' });
  });
});
