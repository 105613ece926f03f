import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCdkContext } from '../../bin/local-cloud/synth';
import { METRICS_NAMESPACE } from '../../lambdas/adapters/runtime';
import { ENV, PRIORITIES } from '../../lambdas/contracts';
import { parseConfig, type SwitchboardConfig } from '../../lib/config';
import { Observability, SWITCHBOARD_NAMESPACE } from '../../lib/constructs/observability';
import { buildSwitchboard, type SwitchboardApp } from '../../lib/switchboard-app';
import { flat } from './template-values';

/**
 * The alarms, their topic and the dashboard (docs/operations.md), and the health routes, as the app
 * synthesizes them with thresholds from config: one synth (bundling skipped) with thresholds changed
 * from the defaults, so a threshold that ignored config would fail.
 */
type Resource = { Type: string; Properties: Record<string, any> };
const context = readCdkContext();
const base = context['switchboard'] as Record<string, unknown>;
const ALARMS = { deadLetterMessages: 3, queueAgeSeconds: { critical: 120, low: 1800 }, api5xxPercent: 2.5, lambdaErrors: 4, lambdaThrottles: 5, failedExecutions: 6 };
let config: SwitchboardConfig;
let stacks: SwitchboardApp;
let observability: Template;
let api: Template;
let alarms: Record<string, Resource>;

beforeAll(() => {
  config = parseConfig({ ...base, alarms: ALARMS });
  const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  stacks = buildSwitchboard(app, config);
  app.synth();
  observability = Template.fromStack(stacks.observability);
  api = Template.fromStack(stacks.api);
  alarms = observability.findResources('AWS::CloudWatch::Alarm') as Record<string, Resource>;
});

const alarm = (idPrefix: string): Resource => {
  const found = Object.entries(alarms).filter(([id]) => id.startsWith(`Observability${idPrefix}`));
  expect(found, `alarm ${idPrefix}`).toHaveLength(1);
  return found[0]![1];
};
const metricOf = (a: Resource) => ({ name: a.Properties['MetricName'], namespace: a.Properties['Namespace'], dims: flat(a.Properties['Dimensions'] ?? []) });

describe('alarms', () => {
  it('dead letters above the configured count, per priority, on each dead-letter queue', () => {
    for (const priority of PRIORITIES) {
      const a = alarm(`DeadLetters${priority.charAt(0).toUpperCase()}${priority.slice(1)}`);
      expect(a.Properties).toMatchObject({ Threshold: 3, ComparisonOperator: 'GreaterThanThreshold', MetricName: 'ApproximateNumberOfMessagesVisible', Namespace: 'AWS/SQS' });
      expect(metricOf(a).dims).toContain(`${priority.charAt(0).toUpperCase()}${priority.slice(1)}Dlq`);
    }
  });

  it('oldest message age over the SLA per priority: config where set, else worker.agingSeconds, critical 120 from config', () => {
    const expected = { critical: 120, high: config.worker.agingSeconds.high, normal: config.worker.agingSeconds.normal, low: 1800 };
    for (const priority of PRIORITIES) {
      const a = alarm(`OldestMessageAge${priority.charAt(0).toUpperCase()}${priority.slice(1)}`);
      expect(a.Properties).toMatchObject({ Threshold: expected[priority], MetricName: 'ApproximateAgeOfOldestMessage' });
    }
  });

  it('the API 5xx rate, functions errors and throttles, failed workflow runs: thresholds from config', () => {
    const rate = alarm('Api5xxRate');
    expect(rate.Properties['Threshold']).toBe(2.5);
    expect(JSON.stringify(rate.Properties['Metrics'])).toContain('5XXError');
    for (const fn of ['Gateway', 'Worker', 'Reconciler', 'DeadLetter', 'Workflow', 'Health']) {
      expect(alarm(`${fn}Errors`).Properties).toMatchObject({ Threshold: 4, MetricName: 'Errors', Namespace: 'AWS/Lambda' });
      expect(alarm(`${fn}Throttles`).Properties).toMatchObject({ Threshold: 5, MetricName: 'Throttles' });
    }
    expect(stacks.workflows.workflows.size).toBeGreaterThan(0);
    for (const name of stacks.workflows.workflows.keys()) {
      const id = name.split(/[^A-Za-z0-9]+/).map((s) => s.charAt(0).toUpperCase() + s.slice(1)).join('');
      const failed = alarm(`Workflow${id}Failed`);
      expect(failed.Properties['Threshold']).toBe(6);
      expect(JSON.stringify(failed.Properties['Metrics'])).toMatch(/ExecutionsFailed[\s\S]*ExecutionsTimedOut/);
    }
  });

  it('audit verification failures, from metric filters on the reconciler\'s AUDIT_TAMPERED and every recorder\'s "audit transition not recorded"', () => {
    expect(alarm('AuditTampered').Properties).toMatchObject({ Threshold: 0, MetricName: 'AuditTampered', Namespace: SWITCHBOARD_NAMESPACE });
    expect(alarm('AuditTransitionNotRecorded').Properties).toMatchObject({ Threshold: 0, MetricName: 'AuditTransitionNotRecorded' });
    const filters = Object.values(observability.findResources('AWS::Logs::MetricFilter') as Record<string, Resource>);
    const byMetric = (name: string) => filters.filter((f) => f.Properties['MetricTransformations'][0].MetricName === name);
    expect(byMetric('AuditTampered').map((f) => f.Properties['FilterPattern'])).toEqual(['{ $.code = "AUDIT_TAMPERED" }']);
    expect(byMetric('AuditTransitionNotRecorded')).toHaveLength(5);
    expect(byMetric('CircuitStateChanges')[0]!.Properties['MetricTransformations'][0].Dimensions).toEqual([
      { Key: 'agentId', Value: '$.agentId' },
      { Key: 'to', Value: '$.to' },
    ]);
  });

  it('every alarm notifies the one topic, when it fires and when it clears; missing data is not a breach', () => {
    const topicId = Object.keys(observability.findResources('AWS::SNS::Topic'))[0]!;
    for (const a of Object.values(alarms)) {
      expect(a.Properties['AlarmActions']).toEqual([{ Ref: topicId }]);
      expect(a.Properties['OKActions']).toEqual([{ Ref: topicId }]);
      expect(a.Properties['TreatMissingData']).toBe('notBreaching');
    }
  });
});

describe('the alarm topic', () => {
  it('is encrypted with a rotating key CloudWatch may use, and refuses publishing without TLS', () => {
    const topic = Object.values(observability.findResources('AWS::SNS::Topic') as Record<string, Resource>)[0]!;
    const keyId = topic.Properties['KmsMasterKeyId']['Fn::GetAtt'][0];
    const key = observability.findResources('AWS::KMS::Key')[keyId] as Resource;
    expect(key.Properties['EnableKeyRotation']).toBe(true);
    expect(JSON.stringify(key.Properties['KeyPolicy'])).toMatch(/cloudwatch\.amazonaws\.com[\s\S]*|kms:GenerateDataKey\*/);
    observability.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('keeps its logical ids (a rename would replace the key and the topic, and drop every subscription)', () => {
    expect(Object.keys(observability.findResources('AWS::KMS::Key'))).toEqual(['ObservabilityAlarmTopicKey48516DE9']);
    expect(Object.keys(observability.findResources('AWS::SNS::Topic'))).toEqual(['ObservabilityAlarmTopicF724909D']);
  });

  it('the functions publish in the namespace the dashboard and alarms read', () => {
    expect(METRICS_NAMESPACE).toBe(SWITCHBOARD_NAMESPACE);
  });
});

describe('the dashboard', () => {
  it('graphs tools, queues per priority, dead letters, outcomes, quota rejections, circuits and the alarms', () => {
    const dashboards = Object.values(observability.findResources('AWS::CloudWatch::Dashboard') as Record<string, Resource>);
    expect(dashboards).toHaveLength(1);
    const body = flat(dashboards[0]!.Properties['DashboardBody']);
    for (const title of ['Tool requests', 'Tool errors by code', 'Tool latency p99 (ms)', 'Queue depth per priority', 'Oldest message age per priority (s)',
      'Dead-letter depth per priority', 'Task and workflow outcomes (tenant, capability)', 'Quota rejections', 'Circuit state changes per agent', 'Alarms']) {
      expect(body, title).toContain(`"title":"${title}"`);
    }
    for (const metric of ['ToolRequests', 'ToolErrors', 'ToolLatency', 'TaskOutcomes', 'QuotaRejections', 'CircuitStateChanges']) expect(body).toContain(`MetricName=\\"${metric}\\"`);
    expect(body).toContain('"type":"alarm"');
  });
});

describe('health routes', () => {
  const methods = () => Object.values(api.findResources('AWS::ApiGateway::Method') as Record<string, Resource>);
  const resources = () => api.findResources('AWS::ApiGateway::Resource') as Record<string, Resource>;
  const methodAt = (path: string) => {
    const [id] = Object.entries(resources()).find(([, r]) => r.Properties['PathPart'] === path)!;
    return methods().find((m) => m.Properties['ResourceId']?.Ref === id)!;
  };

  it('GET /healthz is a MOCK answering {"ready":true} without auth', () => {
    const liveness = methodAt('healthz');
    expect(liveness.Properties).toMatchObject({ HttpMethod: 'GET', AuthorizationType: 'NONE', Integration: { Type: 'MOCK' } });
    expect(liveness.Properties['Integration'].IntegrationResponses[0].ResponseTemplates['application/json']).toBe('{"ready":true}');
  });

  it('GET /healthz/deep runs the health function behind the JWT authorizer; the function describes only, with every dependency named', () => {
    const deep = methodAt('deep');
    expect(deep.Properties).toMatchObject({ HttpMethod: 'GET', AuthorizationType: 'CUSTOM', Integration: { Type: 'AWS_PROXY' } });
    const fns = api.findResources('AWS::Lambda::Function') as Record<string, Resource>;
    const [fnId, fn] = Object.entries(fns).find(([, f]) => String(f.Properties['Description']).startsWith('Deep health check'))!;
    expect(flat(deep.Properties['Integration'].Uri)).toContain(fnId);
    const checks = flat(fn.Properties['Environment'].Variables[ENV.healthChecks]);
    for (const name of ['"tasks"', '"audit"', ...PRIORITIES.flatMap((p) => [`"${p}"`, `"${p}-dlq"`]), '"platform"', '"audit-signing"', ...[...stacks.workflows.workflows.keys()].map((w) => `"${w}"`)]) {
      expect(checks).toContain(name);
    }
    const roleId = fn.Properties['Role']['Fn::GetAtt'][0];
    const actions = Object.values(api.findResources('AWS::IAM::Policy') as Record<string, Resource>)
      .filter((p) => p.Properties['Roles'].some((r: { Ref: string }) => r.Ref === roleId))
      .flatMap((p) => p.Properties['PolicyDocument'].Statement.flatMap((s: { Action: string | string[] }) => [s.Action].flat()));
    expect(new Set(actions.filter((a) => !a.startsWith('xray:')))).toEqual(new Set(['dynamodb:DescribeTable', 'sqs:GetQueueAttributes', 'kms:DescribeKey', 'states:ListExecutions']));
  });
});

describe('Observability props', () => {
  it('refuses a queue age below a minute and a 5xx percentage above 100, naming them', () => {
    const props = (thresholds: object) => ({
      ...({} as never as ConstructorParameters<typeof Observability>[2]),
      thresholds: { deadLetterMessages: 0, queueAgeSeconds: { critical: 60, high: 60, normal: 60, low: 60 }, api5xxPercent: 1, lambdaErrors: 0, lambdaThrottles: 0, failedExecutions: 0, ...thresholds },
    });
    expect(() => new Observability(new Stack(), 'O', props({ queueAgeSeconds: { critical: 30, high: 60, normal: 60, low: 60 } }))).toThrow('queueAgeSeconds.critical is 30');
    expect(() => new Observability(new Stack(), 'O', props({ api5xxPercent: 150 }))).toThrow('api5xxPercent is 150');
  });

  it('config rejects an unknown alarms key in one line naming it', () => {
    expect(() => parseConfig({ ...base, alarms: { dlq: 1 } })).toThrow(/switchboard\.alarms: Unrecognized key: "dlq"/);
  });
});
