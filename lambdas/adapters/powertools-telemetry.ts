import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { TaskEvent, TaskTelemetry } from '../domain/ports';
import { QUOTA_CODES, type ToolCallMetric, type ToolMetrics } from '../domain/metrics';

/** CloudWatch metric names, one per task event: TaskSubmitted, TaskSucceeded, TaskFailed, … */
export const metricName = (event: TaskEvent): string => `Task${event.charAt(0).toUpperCase()}${event.slice(1)}`;

/** The events that end a task (or a workflow run: its capability is `workflow.<name>`). */
const OUTCOMES: ReadonlySet<TaskEvent> = new Set(['succeeded', 'failed', 'cancelled']);

/**
 * What the metrics see of a task: its priority and capability (the port's), and its tenant when
 * the caller passes the whole task (every transition in the domain does).
 */
export type MeteredTask = { priority: string; capability: string; tenantId?: string };

/**
 * Task events and tool calls as CloudWatch metrics through Powertools (EMF, namespace Switchboard;
 * every metric also carries Powertools' `service` dimension, the function). Names, dimensions and
 * their cardinality: docs/operations.md.
 * - `Task<Event>` by priority and capability (and code, for failures);
 * - `TaskOutcomes` by tenant, capability and outcome (succeeded/failed/cancelled): the only metric
 *   with a tenant dimension (tenants × capabilities × 3 series);
 * - `ToolRequests`, `ToolLatency` by tool; `ToolErrors` by tool and code; `QuotaRejections` by tool and code.
 */
export class PowertoolsTaskTelemetry implements TaskTelemetry, ToolMetrics {
  constructor(private readonly metrics: Metrics) {}

  record(event: TaskEvent, task: MeteredTask, code?: string): void {
    this.emit({ priority: task.priority, capability: task.capability, ...(code ? { code } : {}) }, metricName(event), MetricUnit.Count, 1);
    if (OUTCOMES.has(event) && task.tenantId) this.emit({ tenant: task.tenantId, capability: task.capability, outcome: event }, 'TaskOutcomes', MetricUnit.Count, 1);
  }

  toolCall(call: ToolCallMetric): void {
    this.emit({ tool: call.tool }, 'ToolRequests', MetricUnit.Count, 1);
    this.emit({ tool: call.tool }, 'ToolLatency', MetricUnit.Milliseconds, Math.max(0, Math.round(call.latencyMs)));
    if (call.code === undefined) return;
    this.emit({ tool: call.tool, code: call.code }, 'ToolErrors', MetricUnit.Count, 1);
    if (QUOTA_CODES.has(call.code)) this.emit({ tool: call.tool, code: call.code }, 'QuotaRejections', MetricUnit.Count, 1);
  }

  /** One EMF line per metric: a single metric is published as it is added, with its own dimensions. */
  private emit(dimensions: Record<string, string>, name: string, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number): void {
    const metric = this.metrics.singleMetric();
    metric.addDimensions(dimensions);
    metric.addMetric(name, unit, value);
  }
}
