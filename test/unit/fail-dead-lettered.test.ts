import { describe, expect, it } from 'vitest';
import { failDeadLettered } from '../../lambdas/domain/use-cases/fail-dead-lettered';
import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { processTask } from '../../lambdas/domain/use-cases/process-task';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { InMemoryTaskRepository, ManualClock, principal, RecordingQueue, RecordingTelemetry, silentLogger } from '../../bin/harness/in-memory';

const setup = () => {
  const telemetry = new RecordingTelemetry();
  const deps = {
    tasks: new InMemoryTaskRepository(), queue: new RecordingQueue(), agents: new StaticAgentRegistry([echoAgent]),
    clock: new ManualClock(), logger: silentLogger, telemetry,
  };
  return { deps, telemetry };
};

describe('failDeadLettered', () => {
  it('fails a queued or running task with DEAD_LETTERED, once', async () => {
    const { deps, telemetry } = setup();
    await submitTask(deps, principal(), { capability: 'echo', input: 1 });
    const message = deps.queue.sent[0]!.message;
    expect(await failDeadLettered(deps, message, 5)).toBe('failed');
    expect((await deps.tasks.get('acme', message.taskId))?.error).toMatchObject({ code: 'DEAD_LETTERED' });
    expect(await failDeadLettered(deps, message, 5)).toBe('already-terminal');
    expect(telemetry.events.filter((e) => e.startsWith('failed'))).toEqual(['failed:DEAD_LETTERED']);
  });

  it('leaves a task that already ended alone', async () => {
    const { deps } = setup();
    await submitTask(deps, principal(), { capability: 'echo', input: 'done' });
    const message = deps.queue.sent[0]!.message;
    await processTask(deps, message, { maxAttempts: 3, leaseMs: 1000 });
    expect(await failDeadLettered(deps, message, 5)).toBe('already-terminal');
    expect((await deps.tasks.get('acme', message.taskId))?.status).toBe('succeeded');
  });

  it('reports a message whose task does not exist', async () => {
    const { deps } = setup();
    expect(await failDeadLettered(deps, { tenantId: 'acme', taskId: `tsk_${'b'.repeat(26)}`, priority: 'low' }, 5)).toBe('missing');
  });
});
