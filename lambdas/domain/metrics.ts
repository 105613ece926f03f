import type { TaskTelemetry } from './ports';

/** One MCP tool call as the gateway answered it: its tool, how long it took, and the error code when it failed. */
export interface ToolCallMetric {
  tool: string;
  latencyMs: number;
  /** The domain error's code of an `isError` result (`NOT_FOUND`, `QUOTA_EXCEEDED`, `INTERNAL`, …); absent: success. */
  code?: string;
}

/** The codes that count as quota rejections: the tenant's quota (rate, in flight) and the principal's rate. */
export const QUOTA_CODES: ReadonlySet<string> = new Set(['QUOTA_EXCEEDED', 'RATE_LIMITED']);

/**
 * Counts tool calls (on AWS: CloudWatch metrics per tool, errors per code, latency, quota
 * rejections; docs/operations.md). The task telemetry of a function may also offer it.
 */
export interface ToolMetrics {
  toolCall(call: ToolCallMetric): void;
}

/** `telemetry` as tool metrics when it offers them (PowertoolsTaskTelemetry does; the in-memory doubles need not). */
export const toolMetricsOf = (telemetry: TaskTelemetry | undefined): ToolMetrics | undefined =>
  telemetry && typeof (telemetry as Partial<ToolMetrics>).toolCall === 'function' ? (telemetry as TaskTelemetry & ToolMetrics) : undefined;

/** The error code of a tool result: `_meta.code`, else the `CODE:` its text starts with; undefined on success. */
export const toolResultCode = (result: { isError?: boolean; content?: unknown; _meta?: unknown }): string | undefined => {
  if (!result.isError) return undefined;
  const meta = result._meta as { code?: unknown } | undefined;
  if (typeof meta?.code === 'string') return meta.code;
  const first = Array.isArray(result.content) ? (result.content[0] as { text?: unknown } | undefined) : undefined;
  const match = typeof first?.text === 'string' ? /^([A-Z][A-Z_]{1,40}):/.exec(first.text) : null;
  return match ? match[1] : 'UNKNOWN';
};
