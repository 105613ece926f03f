import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { TaskEvent, TaskTelemetry } from '../domain/ports';

/** CloudWatch metric names, one per task event: TaskSubmitted, TaskSucceeded, TaskFailed, … */
export const metricName = (event: TaskEvent): string => `Task${event.charAt(0).toUpperCase()}${event.slice(1)}`;

/**
 * Task events as CloudWatch metrics through Powertools (EMF): one metric per event, dimensioned
 * by priority and capability, and by error code for failures.
 */
export class PowertoolsTaskTelemetry implements TaskTelemetry {
  constructor(private readonly metrics: Metrics) {}

  record(event: TaskEvent, task: { priority: string; capability: string }, code?: string): void {
    const metric = this.metrics.singleMetric();
    metric.addDimensions({ priority: task.priority, capability: task.capability, ...(code ? { code } : {}) });
    metric.addMetric(metricName(event), MetricUnit.Count, 1);
  }
}
