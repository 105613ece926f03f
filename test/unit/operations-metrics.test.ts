import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PowertoolsTaskTelemetry } from '../../lambdas/adapters/powertools-telemetry';
import type { TenantQuota } from '../../lambdas/domain/ports';
import type { ToolCallMetric, ToolMetrics } from '../../lambdas/domain/metrics';
import { toolResultCode } from '../../lambdas/domain/metrics';
import { apiGatewayFetch } from '../../bin/harness/api-gateway-fetch';
import { principal } from '../../bin/harness/in-memory';
import { gatewayWithFakes } from '../../bin/harness/in-memory-gateway';
import { connectV2 } from '../../bin/harness/mcp-clients';

const URL_ = 'https://abc123.execute-api.us-east-1.amazonaws.com/v1/mcp';

/** Task telemetry that also takes tool calls, as PowertoolsTaskTelemetry does. */
class RecordingOperations implements ToolMetrics {
  readonly calls: ToolCallMetric[] = [];
  record() {}
  toolCall(call: ToolCallMetric) {
    this.calls.push(call);
  }
}

const emfLines = () => {
  const lines: string[] = [];
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    lines.push(String(chunk));
    return true;
  });
  return () => lines.map((l) => JSON.parse(l)).filter((l) => l._aws);
};

describe('tool metrics through decidedRun', () => {
  it('counts every tool call with its latency, and a failed one with its code (a denial, a missing task, a quota rejection)', async () => {
    const refuse: TenantQuota = {
      admitSubmit: async () => ({ admitted: false, limit: 'rate', retryAfterSeconds: 3 }),
      releaseInFlight: async () => undefined,
      occupyInFlight: async () => undefined,
    };
    const gateway = gatewayWithFakes({ quota: refuse });
    const metrics = new RecordingOperations();
    Object.assign(gateway.deps, { telemetry: metrics });
    const submitter = await connectV2(URL_, 'token', '2026-07-28', apiGatewayFetch(gateway.handler, principal()));
    await submitter.callTool('list_tasks', {});
    await submitter.callTool('get_task', { taskId: 'tsk_aaaaaaaaaaaaaaaaaaaaaaaaaa' });
    await submitter.callTool('submit_task', { capability: 'echo', input: 1 });
    const viewer = await connectV2(URL_, 'token', '2026-07-28', apiGatewayFetch(gateway.handler, principal('acme', ['viewer'])));
    await viewer.callTool('cancel_task', { taskId: 'tsk_aaaaaaaaaaaaaaaaaaaaaaaaaa' });
    expect(metrics.calls.map(({ tool, code }) => ({ tool, code }))).toEqual([
      { tool: 'list_tasks', code: undefined },
      { tool: 'get_task', code: 'NOT_FOUND' },
      { tool: 'submit_task', code: 'QUOTA_EXCEEDED' },
      { tool: 'cancel_task', code: 'FORBIDDEN' },
    ]);
    for (const call of metrics.calls) expect(call.latencyMs).toBeGreaterThanOrEqual(0);
    await submitter.close();
    await viewer.close();
  });

  it('reads the code of a result: _meta first, then the text, UNKNOWN for an error without one, none for a success', () => {
    expect(toolResultCode({ isError: true, _meta: { code: 'RATE_LIMITED' }, content: [{ type: 'text', text: 'x' }] })).toBe('RATE_LIMITED');
    expect(toolResultCode({ isError: true, content: [{ type: 'text', text: 'INVALID_INPUT: bad' }] })).toBe('INVALID_INPUT');
    expect(toolResultCode({ isError: true, content: [{ type: 'text', text: 'something broke' }] })).toBe('UNKNOWN');
    expect(toolResultCode({ content: [{ type: 'text', text: 'NOT_FOUND: looks like a code' }] })).toBeUndefined();
  });
});

describe('PowertoolsTaskTelemetry as EMF', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it('a tool call: requests and latency by tool; a failure adds errors by tool and code; a quota rejection adds QuotaRejections', () => {
    const emitted = emfLines();
    const telemetry = new PowertoolsTaskTelemetry(new Metrics({ namespace: 'Switchboard', serviceName: 'mcp-gateway' }));
    telemetry.toolCall({ tool: 'get_task', latencyMs: 12.6 });
    telemetry.toolCall({ tool: 'submit_task', latencyMs: 3, code: 'QUOTA_EXCEEDED' });
    const lines = emitted();
    const named = (name: string) => lines.filter((l) => l._aws.CloudWatchMetrics[0].Metrics[0].Name === name);
    expect(named('ToolRequests').map((l) => [l.tool, l.ToolRequests])).toEqual([['get_task', 1], ['submit_task', 1]]);
    expect(named('ToolLatency')[0]).toMatchObject({ tool: 'get_task', ToolLatency: 13, service: 'mcp-gateway' });
    expect(named('ToolLatency')[0]._aws.CloudWatchMetrics[0].Metrics[0].Unit).toBe('Milliseconds');
    expect(named('ToolErrors')).toEqual([expect.objectContaining({ tool: 'submit_task', code: 'QUOTA_EXCEEDED', ToolErrors: 1 })]);
    expect(named('QuotaRejections')).toEqual([expect.objectContaining({ tool: 'submit_task', code: 'QUOTA_EXCEEDED', QuotaRejections: 1 })]);
    expect(named('ToolErrors')[0]._aws.CloudWatchMetrics[0].Dimensions[0].sort()).toEqual(['code', 'service', 'tool']);
  });

  it('a terminal task event also counts TaskOutcomes by tenant, capability and outcome; other events and tenant-less calls do not', () => {
    const emitted = emfLines();
    const telemetry = new PowertoolsTaskTelemetry(new Metrics({ namespace: 'Switchboard', serviceName: 'worker' }));
    telemetry.record('succeeded', { priority: 'normal', capability: 'workflow.triage', tenantId: 'acme' });
    telemetry.record('started', { priority: 'normal', capability: 'echo', tenantId: 'acme' });
    telemetry.record('failed', { priority: 'high', capability: 'echo' }, 'AGENT_ERROR');
    const outcomes = emitted().filter((l) => 'TaskOutcomes' in l);
    expect(outcomes).toEqual([expect.objectContaining({ tenant: 'acme', capability: 'workflow.triage', outcome: 'succeeded', TaskOutcomes: 1 })]);
    expect(outcomes[0]._aws.CloudWatchMetrics[0].Dimensions[0].sort()).toEqual(['capability', 'outcome', 'service', 'tenant']);
  });
});
