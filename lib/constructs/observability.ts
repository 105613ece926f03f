import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { RestApi } from 'aws-cdk-lib/aws-apigateway';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  SearchExpression,
  TextWidget,
  TreatMissingData,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { FilterPattern, MetricFilter, type ILogGroup } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { PRIORITIES, type Priority } from '../../lambdas/contracts';

/** The functions' EMF namespace (lambdas/adapters/runtime.ts METRICS_NAMESPACE; a test keeps them equal). */
export const SWITCHBOARD_NAMESPACE = 'Switchboard';
/** Every alarm evaluates one 5-minute period. */
export const ALARM_PERIOD = Duration.minutes(5);

/** The alarms' thresholds (config `alarms`, docs/operations.md). */
export interface AlarmThresholds {
  /** Messages visible in a dead-letter queue above which it alarms (0: any). */
  deadLetterMessages: number;
  /** Per priority, the age in seconds of the oldest message above which its queue alarms. */
  queueAgeSeconds: Readonly<Record<Priority, number>>;
  /** 5xx responses as a percentage of the API's requests. */
  api5xxPercent: number;
  lambdaErrors: number;
  lambdaThrottles: number;
  /** Failed and timed-out executions per state machine. */
  failedExecutions: number;
}

export interface ObservabilityProps {
  queues: Readonly<Record<Priority, IQueue>>;
  deadLetterQueues: Readonly<Record<Priority, IQueue>>;
  api: RestApi;
  /** Each function by the name its alarms and widgets carry. */
  functions: Readonly<Record<string, IFunction>>;
  /** Each workflow's state machine by the workflow's name. */
  stateMachines: Readonly<Record<string, IStateMachine>>;
  /** Where the audit log's failures are logged: the reconciler's (AUDIT_TAMPERED) and every function that records transitions. */
  auditLogs: { reconciler: ILogGroup; transitions: readonly ILogGroup[] };
  /** The log groups of the functions that route agents (`agent circuit changed`). */
  routingLogs: readonly ILogGroup[];
  thresholds: AlarmThresholds;
  /** Also emailed to these addresses. */
  emails?: readonly string[];
  removalPolicy: RemovalPolicy;
}

const capitalized = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const idOf = (name: string) => name.split(/[^A-Za-z0-9]+/).filter(Boolean).map(capitalized).join('');
const search = (schema: string, metricName: string, statistic: string, label: string) =>
  new SearchExpression({ expression: `SEARCH('{${SWITCHBOARD_NAMESPACE},${schema}} MetricName="${metricName}"', '${statistic}', 300)`, label, period: ALARM_PERIOD });

/**
 * Switchboard's CloudWatch dashboard and alarms: every alarm goes to one SNS topic (encrypted with a
 * key of its own that CloudWatch may use, TLS-only). Alarms: dead letters and the oldest message's
 * age per priority, the API's 5xx rate, each function's errors and throttles, each state machine's
 * failed executions, and the audit log's failures (metric filters on the functions' logs). The
 * dashboard graphs the EMF metrics of lambdas/adapters/powertools-telemetry.ts by SEARCH, so new
 * tools, tenants and agents appear without a deploy.
 */
export class Observability extends Construct {
  readonly topic: Topic;
  readonly key: Key;
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const t = props.thresholds;
    for (const priority of PRIORITIES) {
      const age = t.queueAgeSeconds[priority];
      if (!Number.isInteger(age) || age < 60) throw new Error(`Observability: queueAgeSeconds.${priority} is ${age}; it must be an integer of at least 60 (SQS publishes the age every minute)`);
    }
    for (const name of ['deadLetterMessages', 'lambdaErrors', 'lambdaThrottles', 'failedExecutions'] as const) {
      if (!Number.isInteger(t[name]) || t[name] < 0) throw new Error(`Observability: ${name} is ${t[name]}; it must be an integer of at least 0`);
    }
    if (!(t.api5xxPercent > 0 && t.api5xxPercent <= 100)) throw new Error(`Observability: api5xxPercent is ${t.api5xxPercent}; it must be above 0 and at most 100`);

    this.key = new Key(this, 'AlarmTopicKey', {
      description: 'Switchboard alarm topic: CloudWatch alarms publish with it',
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy,
    });
    this.key.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    this.topic = new Topic(this, 'AlarmTopic', { displayName: 'Switchboard alarms', masterKey: this.key, enforceSSL: true });
    for (const email of props.emails ?? []) this.topic.addSubscription(new EmailSubscription(email));
    const action = new SnsAction(this.topic);
    const alarm = (alarmId: string, metric: IMetric, threshold: number, description: string) => {
      const created = new Alarm(this, alarmId, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      created.addAlarmAction(action);
      created.addOkAction(action);
      this.alarms.push(created);
      return created;
    };

    for (const priority of PRIORITIES) {
      const p = capitalized(priority);
      alarm(`DeadLetters${p}`, props.deadLetterQueues[priority].metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: ALARM_PERIOD }),
        t.deadLetterMessages, `Switchboard: tasks dead-lettered at priority ${priority} (more than ${t.deadLetterMessages}); redrive_dead_letters after the cause is fixed`);
      alarm(`OldestMessageAge${p}`, props.queues[priority].metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: ALARM_PERIOD }),
        t.queueAgeSeconds[priority], `Switchboard: the oldest ${priority} task waited more than ${t.queueAgeSeconds[priority]} s (its SLA)`);
    }
    const serverErrorRate = new MathExpression({
      expression: '100 * errors',
      usingMetrics: { errors: props.api.metricServerError({ statistic: 'Average', period: ALARM_PERIOD }) },
      label: '5xx %',
      period: ALARM_PERIOD,
    });
    alarm('Api5xxRate', serverErrorRate, t.api5xxPercent, `Switchboard: more than ${t.api5xxPercent}% of the API's requests answered 5xx`);
    for (const [name, fn] of Object.entries(props.functions)) {
      alarm(`${idOf(name)}Errors`, fn.metricErrors({ statistic: 'Sum', period: ALARM_PERIOD }), t.lambdaErrors, `Switchboard: function ${name} failed more than ${t.lambdaErrors} time(s) in 5 minutes`);
      alarm(`${idOf(name)}Throttles`, fn.metricThrottles({ statistic: 'Sum', period: ALARM_PERIOD }), t.lambdaThrottles, `Switchboard: function ${name} throttled more than ${t.lambdaThrottles} time(s) in 5 minutes`);
    }
    for (const [name, machine] of Object.entries(props.stateMachines)) {
      const failed = new MathExpression({
        expression: 'FILL(failed, 0) + FILL(timedOut, 0)',
        usingMetrics: {
          failed: machine.metricFailed({ statistic: 'Sum', period: ALARM_PERIOD }),
          timedOut: machine.metricTimedOut({ statistic: 'Sum', period: ALARM_PERIOD }),
        },
        label: `${name} failed`,
        period: ALARM_PERIOD,
      });
      alarm(`Workflow${idOf(name)}Failed`, failed, t.failedExecutions, `Switchboard: more than ${t.failedExecutions} run(s) of workflow ${name} failed or timed out in 5 minutes`);
    }

    // The audit log's failures and the circuits, from what the functions already log (JSON, Powertools).
    const fromLogs = (filterId: string, logGroup: ILogGroup, metricName: string, pattern: string, dimensions?: Record<string, string>) =>
      new MetricFilter(this, filterId, {
        logGroup,
        metricNamespace: SWITCHBOARD_NAMESPACE,
        metricName,
        filterPattern: FilterPattern.literal(pattern),
        metricValue: '1',
        ...(dimensions ? { dimensions } : {}),
      });
    fromLogs('AuditTamperedFilter', props.auditLogs.reconciler, 'AuditTampered', '{ $.code = "AUDIT_TAMPERED" }');
    props.auditLogs.transitions.forEach((logGroup, index) =>
      fromLogs(`AuditNotRecordedFilter${index}`, logGroup, 'AuditTransitionNotRecorded', '{ $.message = "audit transition not recorded" }'));
    props.routingLogs.forEach((logGroup, index) =>
      fromLogs(`CircuitFilter${index}`, logGroup, 'CircuitStateChanges', '{ $.message = "agent circuit changed" }', { agentId: '$.agentId', to: '$.to' }));
    const logMetric = (metricName: string) => new Metric({ namespace: SWITCHBOARD_NAMESPACE, metricName, statistic: 'Sum', period: ALARM_PERIOD });
    alarm('AuditTampered', logMetric('AuditTampered'), 0, 'Switchboard: a tenant\'s audit log does not verify (AUDIT_TAMPERED); no digest is signed for it: docs/audit.md');
    alarm('AuditTransitionNotRecorded', logMetric('AuditTransitionNotRecorded'), 0, 'Switchboard: a task transition was written but not recorded in the audit log: docs/audit.md');

    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    const graph = (title: string, left: IMetric[], width = 8) => new GraphWidget({ title, left, width, height: 6 });
    const perPriority = (metric: (priority: Priority) => IMetric) => PRIORITIES.map((priority) => metric(priority));
    this.dashboard.addWidgets(
      new TextWidget({ markdown: '# Switchboard\nMetrics, alarms and health: docs/operations.md. Deep health: `GET /healthz/deep` (operators).', width: 24, height: 2 }),
    );
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 4 }));
    this.dashboard.addWidgets(
      graph('Tool requests', [search('service,tool', 'ToolRequests', 'Sum', '')]),
      graph('Tool errors by code', [search('code,service,tool', 'ToolErrors', 'Sum', '')]),
      graph('Tool latency p99 (ms)', [search('service,tool', 'ToolLatency', 'p99', '')]),
    );
    this.dashboard.addWidgets(
      graph('Queue depth per priority', perPriority((p) => props.queues[p].metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', label: p, period: Duration.minutes(1) }))),
      graph('Oldest message age per priority (s)', perPriority((p) => props.queues[p].metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', label: p, period: Duration.minutes(1) }))),
      graph('Dead-letter depth per priority', perPriority((p) => props.deadLetterQueues[p].metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', label: p, period: Duration.minutes(1) }))),
    );
    this.dashboard.addWidgets(
      graph('Task and workflow outcomes (tenant, capability)', [search('capability,outcome,service,tenant', 'TaskOutcomes', 'Sum', '')]),
      graph('Quota rejections', [search('code,service,tool', 'QuotaRejections', 'Sum', '')]),
      graph('Circuit state changes per agent', [new SearchExpression({ expression: `SEARCH('{${SWITCHBOARD_NAMESPACE},agentId,to} MetricName="CircuitStateChanges"', 'Sum', 300)`, label: '', period: ALARM_PERIOD })]),
    );
    this.dashboard.addWidgets(
      graph('API 5xx %', [serverErrorRate]),
      graph('Function errors and throttles', Object.values(props.functions).flatMap((fn) => [fn.metricErrors({ period: ALARM_PERIOD }), fn.metricThrottles({ period: ALARM_PERIOD })])),
      graph('Workflow runs failed', Object.entries(props.stateMachines).map(([name, machine]) => machine.metricFailed({ label: name, period: ALARM_PERIOD }))),
    );
  }
}
