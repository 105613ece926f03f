import { describe, expect, it } from 'vitest';
import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { ForbiddenError, InvalidTransitionError, ValidationError } from '../../lambdas/domain/errors';
import { processTask } from '../../lambdas/domain/use-cases/process-task';
import { MAX_RUN_STARTS, watchRuns } from '../../lambdas/domain/use-cases/watch-runs';
import { decideApproval, finishRun, openApprovalGate, startWorkflow } from '../../lambdas/domain/use-cases/workflow-runs';
import { cancelTask } from '../../lambdas/domain/use-cases/cancel-task';
import {
  InFlightQuota,
  InMemoryStepStore,
  InMemoryTaskRepository,
  ManualClock,
  principal,
  RecordingQueue,
  RecordingWorkflowEngine,
  silentLogger,
  TerminalEvents,
} from '../../bin/harness/in-memory';

const setup = () => {
  const telemetry = new TerminalEvents();
  const deps = {
    tasks: new InMemoryTaskRepository(),
    queue: new RecordingQueue(),
    agents: new StaticAgentRegistry([echoAgent]),
    clock: new ManualClock(),
    logger: silentLogger,
    telemetry,
    quota: new InFlightQuota(10),
    steps: new InMemoryStepStore(),
    workflows: new RecordingWorkflowEngine(['purchase']),
  };
  const alice = { ...principal('acme', ['submitter']), subject: 'alice' };
  const bob = { ...principal('acme', ['approver']), subject: 'bob' };
  /** A run started and taken by the worker: its execution recorded. */
  const running = async () => {
    const view = await startWorkflow(deps, alice, { workflow: 'purchase', input: { amount: 5 } });
    await processTask(deps, deps.queue.sent.at(-1)!.message, { maxAttempts: 3, leaseMs: 30_000 });
    return (await deps.tasks.get('acme', view.taskId))!;
  };
  const gate = (taskId: string, token: string, level: 1 | 2 = 1) =>
    openApprovalGate(deps, { action: 'approve', run: { tenantId: 'acme', taskId }, stepId: 'approve', roles: level === 1 ? ['approver'] : ['admin'], timeoutSeconds: 60, level, taskToken: token });
  return { deps, alice, bob, running, gate, telemetry };
};

describe('workflow runs', () => {
  it('start_workflow queues a run of a deployed workflow; the worker starts one execution named after it, once', async () => {
    const { deps, alice, running } = setup();
    await expect(startWorkflow(deps, alice, { workflow: 'nope', input: {} })).rejects.toBeInstanceOf(ValidationError);
    const run = await running();
    expect(run).toMatchObject({ status: 'running', workflow: 'purchase', capability: 'workflow.purchase', execution: { starts: 1 } });
    expect(run.leaseUntil).toBeUndefined();
    await processTask(deps, { tenantId: 'acme', taskId: run.taskId, priority: 'normal' }, { maxAttempts: 3, leaseMs: 30_000 });
    expect(deps.workflows.started.map((s) => s.name)).toEqual([run.taskId]);
    expect(deps.workflows.started[0]!.input).toEqual({ run: { tenantId: 'acme', taskId: run.taskId }, input: { amount: 5 } });
  });

  it('a gate: only its roles decide, never the submitter; the decision goes to the engine once and is recorded', async () => {
    const { deps, alice, bob, running, gate } = setup();
    const run = await running();
    await gate(run.taskId, 'tok-1');
    await gate(run.taskId, 'tok-1'); // a Lambda retry: nothing changes
    expect(await deps.tasks.get('acme', run.taskId)).toMatchObject({ status: 'waiting_approval', approval: { level: 1, token: 'tok-1' } });
    const selfApprover = { ...alice, roles: ['approver' as const] };
    await expect(decideApproval(deps, selfApprover, { taskId: run.taskId }, 'approved')).rejects.toBeInstanceOf(ForbiddenError);
    await expect(decideApproval(deps, { ...principal('acme', ['admin']), subject: 'carol' }, { taskId: run.taskId }, 'approved')).rejects.toThrow(/decided by: approver/);
    await decideApproval(deps, bob, { taskId: run.taskId, comment: 'ok' }, 'approved');
    await expect(decideApproval(deps, bob, { taskId: run.taskId }, 'rejected')).rejects.toBeInstanceOf(InvalidTransitionError);
    expect(deps.workflows.answers).toEqual([{ token: 'tok-1', outcome: 'success', payload: expect.objectContaining({ decision: 'approved', by: 'bob', comment: 'ok' }) }]);
    const after = (await deps.tasks.get('acme', run.taskId))!;
    expect(after).toMatchObject({ status: 'running', decisions: [{ stepId: 'approve', decision: 'approved', by: 'bob', level: 1 }] });
    expect(after.approval).toBeUndefined();
    // Another tenant's approver finds nothing.
    await expect(decideApproval(deps, { ...principal('globex', ['approver']), subject: 'eve' }, { taskId: run.taskId }, 'approved')).rejects.toThrow(/not found/);
  });

  it('a resumed run meeting a gate decided before is answered from the decision, nobody is asked again', async () => {
    const { deps, bob, running, gate } = setup();
    const run = await running();
    await gate(run.taskId, 'tok-1');
    await decideApproval(deps, bob, { taskId: run.taskId }, 'approved');
    await gate(run.taskId, 'tok-2');
    expect(deps.workflows.answers.map((a) => [a.token, a.outcome])).toEqual([['tok-1', 'success'], ['tok-2', 'success']]);
    expect((await deps.tasks.get('acme', run.taskId))?.status).toBe('running');
  });

  it('finish writes the terminal state once, gives the in-flight slot back once; a cancelled run stays cancelled', async () => {
    const { deps, alice, running, telemetry } = setup();
    const run = await running();
    expect(deps.quota.inFlight.get('acme')).toBe(1);
    const event = { action: 'finish' as const, run: { tenantId: 'acme', taskId: run.taskId }, outcome: 'succeeded' as const, steps: { quote: { output: 1 } } };
    expect(await finishRun(deps, event)).toEqual({ status: 'succeeded' });
    expect(await finishRun(deps, { ...event, outcome: 'failed', error: { Error: 'STEP_FAILED', Cause: 'x' } })).toEqual({ status: 'succeeded' });
    expect(await deps.tasks.get('acme', run.taskId)).toMatchObject({ status: 'succeeded', result: { quote: 1 } });
    expect(deps.quota.inFlight.get('acme')).toBe(0);

    const other = await running();
    await cancelTask(deps, alice, { taskId: other.taskId });
    expect(deps.workflows.stopped).toEqual([other.execution!.arn]);
    expect(await finishRun(deps, { ...event, run: { tenantId: 'acme', taskId: other.taskId } })).toEqual({ status: 'cancelled' });
    expect(telemetry.byTask.get(other.taskId)).toEqual(['cancelled']);
    const rejected = await running();
    await finishRun(deps, { action: 'finish', run: { tenantId: 'acme', taskId: rejected.taskId }, outcome: 'failed', error: { Error: 'REJECTED', Cause: 'rejected by bob' } });
    expect(await deps.tasks.get('acme', rejected.taskId)).toMatchObject({ status: 'failed', error: { code: 'REJECTED', message: 'rejected by bob' } });
  });

  it('the watch resumes a run whose execution was aborted under it, at most MAX_RUN_STARTS executions, then fails it', async () => {
    const { deps, running } = setup();
    const run = await running();
    const engine = deps.workflows;
    for (let start = 1; start < MAX_RUN_STARTS; start++) {
      await engine.stop((await deps.tasks.get('acme', run.taskId))!.execution!.arn);
      expect(await watchRuns(deps, { limit: 10 })).toMatchObject({ resumed: 1 });
    }
    expect(engine.started.map((s) => s.name)).toEqual([run.taskId, `${run.taskId}-r1`, `${run.taskId}-r2`]);
    await engine.stop((await deps.tasks.get('acme', run.taskId))!.execution!.arn);
    expect(await watchRuns(deps, { limit: 10 })).toMatchObject({ failed: 1 });
    expect(await deps.tasks.get('acme', run.taskId)).toMatchObject({ status: 'failed', error: { code: 'WORKFLOW_FAILED' } });
    expect(await watchRuns(deps, { limit: 10 })).toEqual({ running: 0, resumed: 0, failed: 0, moved: 0 });
  });
});
