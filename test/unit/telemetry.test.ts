import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { echoAgent } from '../../lambdas/agents/echo';
import { StaticAgentRegistry } from '../../lambdas/agents/registry';
import { cancelTask } from '../../lambdas/domain/use-cases/cancel-task';
import { processTask } from '../../lambdas/domain/use-cases/process-task';
import { submitTask } from '../../lambdas/domain/use-cases/submit-task';
import { PowertoolsTaskTelemetry } from '../../lambdas/adapters/powertools-telemetry';
import { InMemoryTaskRepository, ManualClock, principal, RecordingQueue, RecordingTelemetry, silentLogger } from '../../bin/harness/in-memory';

const setup = () => {
  const telemetry = new RecordingTelemetry();
  const failing = { capability: 'broken', description: 'fails', run: async () => { throw new Error('no'); } };
  const deps = {
    tasks: new InMemoryTaskRepository(), queue: new RecordingQueue(), clock: new ManualClock(), logger: silentLogger, telemetry,
    agents: new StaticAgentRegistry([echoAgent, failing]),
  };
  return { deps, telemetry };
};

describe('task telemetry', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it('records submit, replay, start and success', async () => {
    const { deps, telemetry } = setup();
    await submitTask(deps, principal(), { capability: 'echo', input: 1, idempotencyKey: 'k' });
    await submitTask(deps, principal(), { capability: 'echo', input: 1, idempotencyKey: 'k' });
    await processTask(deps, deps.queue.sent[0]!.message, { maxAttempts: 3, leaseMs: 1000 });
    expect(telemetry.events).toEqual(['submitted', 'replayed', 'started', 'succeeded']);
  });

  it('records retries, the failure with its code, and cancellations', async () => {
    const { deps, telemetry } = setup();
    await submitTask(deps, principal(), { capability: 'broken', input: 1 });
    const message = deps.queue.sent[0]!.message;
    await processTask(deps, message, { maxAttempts: 2, leaseMs: 1000 });
    await processTask(deps, message, { maxAttempts: 2, leaseMs: 1000 });
    const queued = await submitTask(deps, principal(), { capability: 'echo', input: 2 });
    await cancelTask(deps, principal(), { taskId: queued.taskId });
    expect(telemetry.events).toEqual(['submitted', 'started', 'retried', 'started', 'failed:AGENT_ERROR', 'submitted', 'cancelled']);
  });

  it('emits each event as a CloudWatch EMF metric with priority, capability and code', () => {
    const lines: string[] = [];
    // Whatever an earlier suite of this process set (the local cloud turns EMF off): this test wants it on.
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    new PowertoolsTaskTelemetry(new Metrics({ namespace: 'Switchboard', serviceName: 'test' })).record(
      'failed', { priority: 'high', capability: 'echo' }, 'AGENT_ERROR',
    );
    const emf = lines.map((l) => JSON.parse(l)).find((l) => l._aws);
    expect(emf).toMatchObject({ TaskFailed: 1, priority: 'high', capability: 'echo', code: 'AGENT_ERROR', service: 'test' });
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'Switchboard', Metrics: [{ Name: 'TaskFailed', Unit: 'Count' }] });
  });
});
