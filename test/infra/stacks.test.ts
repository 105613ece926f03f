import { flat } from './template-values';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { Key } from 'aws-cdk-lib/aws-kms';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config';
import { PriorityQueues } from '../../lib/constructs/priority-queues';
import { SwitchboardFunction } from '../../lib/constructs/switchboard-function';
import { readCdkContext } from '../../bin/local-cloud/synth';
import { buildSwitchboard, type SwitchboardStacks } from '../../lib/switchboard-app';
import { MessagingStack } from '../../lib/stacks/messaging-stack';
import { StatefulStack } from '../../lib/stacks/stateful-stack';
import { AGENT_MANIFESTS, SHARED_USAGE_KEY, usageKeyOf, usagePlanOf, type AgentManifest } from '../../lambdas/contracts';
import { ALL_SCOPES, IssuerSchema } from '../../lambdas/contracts';
import { POLICIES_DIR } from '../../lib/policies';
import { ApiStack, type ApiStackProps } from '../../lib/stacks/api-stack';

const context = readCdkContext();
const config = parseConfig(context['switchboard']);

let stacks: SwitchboardStacks;
let templates: Record<keyof SwitchboardStacks, Template>;
let assembly: ReturnType<App['synth']>;

beforeAll(() => {
  const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  stacks = buildSwitchboard(app, config);
  assembly = app.synth();
  templates = {
    stateful: Template.fromStack(stacks.stateful),
    workflows: Template.fromStack(stacks.workflows),
    messaging: Template.fromStack(stacks.messaging),
    api: Template.fromStack(stacks.api),
  };
});

describe('stateful stack', () => {
  it('projects into each index only what its query needs (KEYS_ONLY, or INCLUDE of attributes that never change)', () => {
    const table = Object.values(templates.stateful.findResources('AWS::DynamoDB::Table'))[0]!;
    const projections = Object.fromEntries(
      (table['Properties'].GlobalSecondaryIndexes as { IndexName: string; Projection: { ProjectionType: string; NonKeyAttributes?: string[] } }[]).map((i) => [
        i.IndexName,
        [i.Projection.ProjectionType, ...(i.Projection.NonKeyAttributes ?? [])].join(' '),
      ]),
    );
    expect(projections).toEqual({
      byCreated: 'KEYS_ONLY',
      byStatus: 'KEYS_ONLY',
      dispatchPending: 'INCLUDE tenantId taskId',
      deadLettered: 'INCLUDE tenantId taskId',
      queued: 'INCLUDE tenantId taskId deadline',
      liveRuns: 'INCLUDE tenantId taskId',
      claimable: 'INCLUDE tenantId taskId',
    });
  });

  it('has a rotating customer-managed key', () => {
    templates.stateful.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('has an on-demand tasks table encrypted with that key, PITR and deletion protection on, retained', () => {
    templates.stateful.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        SSESpecification: Match.objectLike({ SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() }),
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
        GlobalSecondaryIndexes: Match.arrayWith([Match.objectLike({ IndexName: 'byStatus' }), Match.objectLike({ IndexName: 'dispatchPending' }), Match.objectLike({ IndexName: 'deadLettered', KeySchema: [{ AttributeName: 'dlpk', KeyType: 'HASH' }, { AttributeName: 'dlsk', KeyType: 'RANGE' }] })]),
      }),
    });
  });

  it('pins the logical ids of stateful resources (renaming one would replace it)', () => {
    expect(Object.keys(templates.stateful.findResources('AWS::KMS::Key')).sort()).toEqual(['BackupVaultKeyA286A54F', 'DataKeysConfidentialC2DB1BE3', 'DataKeysInternal0295EC7D', 'DataKeysRestricted59A8C073', 'PlatformKey9FD66B6F']);
    expect(Object.keys(templates.stateful.findResources('AWS::Backup::BackupVault'))).toEqual(['BackupVault368E0ECE']);
    expect(Object.keys(templates.stateful.findResources('AWS::DynamoDB::Table')).sort()).toEqual(['AuditTable18A3095C', 'TasksTable45D1B62D']);
    expect(Object.keys(templates.messaging.findResources('AWS::SQS::Queue')).sort()).toEqual([
      'TaskQueuesCritical363D1DCE', 'TaskQueuesCriticalDlqA1B3E32B', 'TaskQueuesHighDlqF96DA1F1', 'TaskQueuesHighE3C152E1',
      'TaskQueuesLow44F8937B', 'TaskQueuesLowDlq8170C873', 'TaskQueuesNormal031D6C55', 'TaskQueuesNormalDlq9748C093',
    ]);
  });
});

describe('messaging stack', () => {
  it('has four FIFO priority queues, each with a FIFO DLQ, KMS-encrypted', () => {
    const queues = templates.messaging.findResources('AWS::SQS::Queue');
    const main = Object.entries(queues).filter(([, q]) => q['Properties'].RedrivePolicy);
    expect(main.map(([id]) => id.replace(/TaskQueues(\w+?)[0-9A-F]{8}$/, '$1')).sort()).toEqual(['Critical', 'High', 'Low', 'Normal']);
    for (const [, queue] of Object.entries(queues)) {
      expect(queue['Properties'].FifoQueue).toBe(true);
      expect(queue['Properties'].KmsMasterKeyId).toBeDefined();
    }
    for (const [, queue] of main) {
      const dlqId = queue['Properties'].RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0];
      expect(queues[dlqId]?.['Properties'].FifoQueue).toBe(true);
      expect(queue['Properties'].RedrivePolicy.maxReceiveCount).toBe(2 * config.worker.maxAttempts + 3);
    }
  });

  it('sets each queue\'s visibility timeout to at least six times the worker timeout', () => {
    const worker = Object.values(templates.messaging.findResources('AWS::Lambda::Function')).find((f) =>
      String(f['Properties'].Description).startsWith('Runs queued'),
    )!;
    const timeout = worker['Properties'].Timeout as number;
    expect(timeout).toBe(config.worker.timeoutSeconds);
    const queues = Object.values(templates.messaging.findResources('AWS::SQS::Queue')).filter((q) => q['Properties'].RedrivePolicy);
    for (const queue of queues) expect(queue['Properties'].VisibilityTimeout).toBeGreaterThanOrEqual(6 * timeout);
  });

  it('enforces TLS on every queue', () => {
    const policies = Object.values(templates.messaging.findResources('AWS::SQS::QueuePolicy'));
    expect(policies).toHaveLength(8);
    for (const policy of policies) {
      expect(policy['Properties'].PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  const functionId = (prefix: string) =>
    Object.keys(templates.messaging.findResources('AWS::Lambda::Function')).find((id) => id.startsWith(prefix))!;
  const mappingsOf = (fnId: string) =>
    Object.values(templates.messaging.findResources('AWS::Lambda::EventSourceMapping')).filter(
      (m) => m['Properties'].FunctionName.Ref === fnId,
    );
  const queueIdOf = (mapping: { Properties: { EventSourceArn: { 'Fn::GetAtt': string[] } } }) => mapping.Properties.EventSourceArn['Fn::GetAtt'][0]!;

  it('consumes every priority queue with partial batch responses', () => {
    const mappings = mappingsOf(functionId('Worker'));
    expect(mappings.map((m) => queueIdOf(m as never)).sort()).toEqual(
      ['TaskQueuesCritical363D1DCE', 'TaskQueuesHighE3C152E1', 'TaskQueuesLow44F8937B', 'TaskQueuesNormal031D6C55'],
    );
    for (const mapping of mappings) {
      expect(mapping['Properties']).toMatchObject({ FunctionResponseTypes: ['ReportBatchItemFailures'], BatchSize: config.worker.batchSize });
    }
  });

  it('caps each priority queue\'s mapping at that priority\'s concurrency budget, with no batching window (the fast lane)', () => {
    const byQueue = Object.fromEntries(mappingsOf(functionId('Worker')).map((m) => [queueIdOf(m as never), m['Properties']]));
    const { critical, high, normal, low } = config.worker.concurrency;
    expect(byQueue['TaskQueuesCritical363D1DCE'].ScalingConfig).toEqual({ MaximumConcurrency: critical });
    expect(byQueue['TaskQueuesHighE3C152E1'].ScalingConfig).toEqual({ MaximumConcurrency: high });
    expect(byQueue['TaskQueuesNormal031D6C55'].ScalingConfig).toEqual({ MaximumConcurrency: normal });
    expect(byQueue['TaskQueuesLow44F8937B'].ScalingConfig).toEqual({ MaximumConcurrency: low });
    expect(critical).toBeGreaterThan(low);
    for (const mapping of Object.values(byQueue)) expect(mapping.MaximumBatchingWindowInSeconds).toBeUndefined();
  });

  it('gives the worker the configured lease, which it renews by heartbeat, and the right to change its messages\' visibility', () => {
    const worker = templates.messaging.findResources('AWS::Lambda::Function')[functionId('Worker')]!;
    expect(worker['Properties'].Environment.Variables.WORKER_LEASE_MS).toBe(String(config.worker.leaseSeconds * 1000));
    templates.messaging.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: Match.arrayWith(['sqs:ChangeMessageVisibility', 'sqs:GetQueueUrl']) })]) },
    });
  });

  it('gives the reconciler (the escalator) each level\'s aging SLA from worker.agingSeconds, and the table the sparse queued index', () => {
    const reconciler = templates.messaging.findResources('AWS::Lambda::Function')[functionId('Reconciler')]!;
    expect(reconciler['Properties'].Environment.Variables).toMatchObject({
      AGING_MS_HIGH: String(config.worker.agingSeconds.high * 1000),
      AGING_MS_NORMAL: String(config.worker.agingSeconds.normal * 1000),
      AGING_MS_LOW: String(config.worker.agingSeconds.low * 1000),
    });
    templates.stateful.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: Match.arrayWith([Match.objectLike({ IndexName: 'queued', KeySchema: [{ AttributeName: 'qpk', KeyType: 'HASH' }, { AttributeName: 'qsk', KeyType: 'RANGE' }] })]),
    });
  });

  it('consumes every dead-letter queue, so a dead-lettered task still ends, with a visibility of 6× that consumer\'s timeout', () => {
    const fnId = functionId('DeadLetterHandler');
    const mappings = mappingsOf(fnId);
    expect(mappings.map((m) => queueIdOf(m as never)).sort()).toEqual(
      ['TaskQueuesCriticalDlqA1B3E32B', 'TaskQueuesHighDlqF96DA1F1', 'TaskQueuesLowDlq8170C873', 'TaskQueuesNormalDlq9748C093'],
    );
    const timeout = templates.messaging.findResources('AWS::Lambda::Function')[fnId]!['Properties'].Timeout as number;
    const queues = templates.messaging.findResources('AWS::SQS::Queue');
    for (const mapping of mappings) {
      expect(mapping['Properties'].FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
      expect(mapping['Properties'].ScalingConfig).toEqual({ MaximumConcurrency: 2 });
      expect(queues[queueIdOf(mapping as never)]!['Properties'].VisibilityTimeout).toBeGreaterThanOrEqual(6 * timeout);
    }
  });

  it('runs the dispatch reconciler every minute', () => {
    templates.messaging.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)' });
  });
});

describe('API stack', () => {
  it('puts every MCP method behind the JWT TOKEN authorizer', () => {
    templates.api.hasResourceProperties('AWS::ApiGateway::Authorizer', {
      Type: 'TOKEN',
      IdentitySource: 'method.request.header.Authorization',
    });
    // Every method but the public Protected Resource Metadata (MOCK integrations, see the OAuth describe block).
    const methods = Object.values(templates.api.findResources('AWS::ApiGateway::Method')).filter((m) => m['Properties'].Integration.Type !== 'MOCK');
    expect(methods.length).toBeGreaterThan(0);
    for (const method of methods) expect(method['Properties'].AuthorizationType).toBe('CUSTOM');
  });

  it('writes access logs and throttles the stage', () => {
    templates.api.hasResourceProperties('AWS::ApiGateway::Stage', {
      AccessLogSetting: Match.objectLike({ DestinationArn: Match.anyValue() }),
      MethodSettings: Match.arrayWith([
        Match.objectLike({ ThrottlingRateLimit: config.api.throttlingRateLimit, ThrottlingBurstLimit: config.api.throttlingBurstLimit }),
      ]),
    });
  });

  it('answers 401 with a Bearer challenge and a JSON-RPC body, for a bad token and for a missing one', () => {
    for (const type of ['UNAUTHORIZED', 'BAD_REQUEST_PARAMETERS']) {
      templates.api.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: type,
        StatusCode: '401',
        // The challenge names the API's own metadata URL (a deploy-time value): exactly asserted in the OAuth describe block.
        ResponseParameters: Match.objectLike({ 'gatewayresponse.header.WWW-Authenticate': Match.objectLike({ 'Fn::Join': Match.anyValue() }) }),
        ResponseTemplates: { 'application/json': Match.stringLikeRegexp('"code":-32001') },
      });
    }
  });

  it('puts a WAF web ACL with a per-IP rate-based rule (api.waf) on the stage', () => {
    templates.api.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      Rules: [
        Match.objectLike({
          Action: { Block: {} },
          Statement: { RateBasedStatement: { Limit: config.api.waf.ratePerFiveMinutes, AggregateKeyType: 'IP' } },
        }),
      ],
    });
    const [stageId] = Object.keys(templates.api.findResources('AWS::ApiGateway::Stage'));
    const [aclId] = Object.keys(templates.api.findResources('AWS::WAFv2::WebACL'));
    const association = Object.values(templates.api.findResources('AWS::WAFv2::WebACLAssociation'));
    expect(association).toHaveLength(1);
    expect(JSON.stringify(association[0]!['Properties'].ResourceArn)).toContain(stageId!);
    expect(association[0]!['Properties'].WebACLArn).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
    // Every request WAF evaluates is logged, to an encrypted aws-waf-logs- group, the bearer token redacted.
    const [logging] = Object.values(templates.api.findResources('AWS::WAFv2::LoggingConfiguration')) as { Properties: Record<string, any> }[];
    expect(logging!.Properties['ResourceArn']).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
    expect(logging!.Properties['RedactedFields']).toEqual([{ SingleHeader: { Name: 'authorization' } }]);
    const groups = templates.api.findResources('AWS::Logs::LogGroup') as Record<string, { Properties: Record<string, any> }>;
    const wafGroup = Object.entries(groups).find(([id]) => JSON.stringify(logging!.Properties['LogDestinationConfigs']).includes(id));
    expect(String(wafGroup![1].Properties['LogGroupName'])).toMatch(/^aws-waf-logs-/);
    expect(wafGroup![1].Properties['KmsKeyId']).toBeDefined();
  });

  it('without api.waf: no web ACL, and the missing WAF (APIG3) is the only extra acknowledgement, still nag-clean', () => {
    const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
    const built = buildSwitchboard(app, { ...config, api: { ...config.api, waf: { enabled: false, ratePerFiveMinutes: 3000 } } });
    app.synth();
    const template = Template.fromStack(built.api);
    template.resourceCountIs('AWS::WAFv2::WebACL', 0);
    template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
    expect(JSON.stringify(template.toJSON())).toContain('AwsSolutions-APIG3');
    expect(JSON.stringify(templates.api.toJSON())).not.toContain('AwsSolutions-APIG3');
    const findings = [
      ...Annotations.fromStack(built.api).findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
      ...Annotations.fromStack(built.api).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ];
    expect(findings).toEqual([]);
  });

  it('hands the gateway the tenant quotas (tiers, tenant → tier) and the functions that end tasks the same settings', () => {
    const gateway = Object.values(templates.api.findResources('AWS::Lambda::Function')).find((f) =>
      String(f['Properties'].Description).startsWith('MCP server'),
    )!;
    expect(JSON.parse(gateway['Properties'].Environment.Variables.TENANT_QUOTAS)).toEqual(config.quotas);
    // The functions that end tasks give the in-flight slots back: they read the same settings.
    const enders = Object.values(templates.messaging.findResources('AWS::Lambda::Function')).filter((f) =>
      /^(Runs queued|Fails the tasks)/.test(String(f['Properties'].Description)),
    );
    expect(enders).toHaveLength(2);
    for (const fn of enders) expect(JSON.parse(fn['Properties'].Environment.Variables.TENANT_QUOTAS)).toEqual(config.quotas);
  });

  it('meters each tenant with an API Gateway usage plan per tier: listed tenants on their own key, the rest on a shared one; the authorizer names the key', () => {
    const quotas = { ...config.quotas, tenants: { acme: 'premium', globex: 'standard' } };
    const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
    const api = Template.fromStack(buildSwitchboard(app, { ...config, quotas }).api);
    api.hasResourceProperties('AWS::ApiGateway::RestApi', { ApiKeySourceType: 'AUTHORIZER' });
    for (const method of Object.values(api.findResources('AWS::ApiGateway::Method')).filter((m) => m['Properties'].Integration.Type !== 'MOCK')) {
      expect(method['Properties'].ApiKeyRequired).toBe(true);
    }
    const plans = Object.values(api.findResources('AWS::ApiGateway::UsagePlan')).map((p) => p['Properties']);
    expect(plans).toHaveLength(Object.keys(quotas.tiers).length + 1);
    for (const [tier, limits] of Object.entries(quotas.tiers)) {
      const plan = plans.find((p) => String(p.Description).includes(`tier ${tier}:`))!;
      expect(plan.Throttle).toEqual({ RateLimit: usagePlanOf(limits).rateLimit, BurstLimit: usagePlanOf(limits).burstLimit });
      expect(plan.ApiStages).toHaveLength(1);
    }
    const shared = plans.find((p) => String(p.Description).includes('not listed'))!;
    expect(shared.Throttle).toEqual({ RateLimit: config.api.throttlingRateLimit, BurstLimit: config.api.throttlingBurstLimit });
    const keys = Object.values(api.findResources('AWS::ApiGateway::ApiKey')).map((k) => k['Properties'].Value);
    const authorizer = Object.values(api.findResources('AWS::Lambda::Function')).find((f) => String(f['Properties'].Description).startsWith('Verifies bearer'))!;
    const seed = authorizer['Properties'].Environment.Variables.USAGE_KEY_SEED;
    expect(JSON.parse(authorizer['Properties'].Environment.Variables.TENANT_QUOTAS)).toEqual(quotas);
    expect(keys.sort()).toEqual(['acme', 'globex', SHARED_USAGE_KEY].map((t) => usageKeyOf(seed, t)).sort());
    api.resourceCountIs('AWS::ApiGateway::UsagePlanKey', 3);
    for (const type of ['THROTTLED', 'QUOTA_EXCEEDED']) {
      api.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: type,
        StatusCode: '429',
        ResponseTemplates: { 'application/json': Match.stringLikeRegexp('"code":-32029') },
      });
    }
  });

  it('refuses usage plans that could never apply or would overflow the stack', () => {
    const tooFast = { ...config.quotas, tiers: { ...config.quotas.tiers, standard: { submitsPerSecond: 10, burst: 20, requestsPerSecond: config.api.throttlingRateLimit + 1 } } };
    expect(() => buildSwitchboard(new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } }), { ...config, quotas: tooFast })).toThrow(
      /quotas\.tiers\.standard allows .* requests\/s, more than the stage's throttlingRateLimit/,
    );
    const many = { ...config.quotas, tenants: Object.fromEntries(Array.from({ length: 151 }, (_, i) => [`t${i}`, 'standard'])) };
    expect(() => buildSwitchboard(new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } }), { ...config, quotas: many })).toThrow(/151 tenants listed/);
  });

  it('lets the MCP function accept only the API\'s own domain as Host', () => {
    const gateway = Object.values(templates.api.findResources('AWS::Lambda::Function')).find((f) =>
      String(f['Properties'].Description).startsWith('MCP server'),
    )!;
    const hosts = JSON.stringify(gateway['Properties'].Environment.Variables.MCP_ALLOWED_HOSTS);
    expect(hosts).toMatch(/McpApi[0-9A-F]{8}/);
    expect(hosts).toContain('.execute-api.');
  });

  it('runs every function on nodejs24.x, arm64, with tracing', () => {
    for (const template of Object.values(templates)) {
      for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
        expect(fn['Properties']).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], TracingConfig: { Mode: 'Active' } });
      }
    }
  });
});

describe('OAuth resource server edge (Protected Resource Metadata, challenges, authorizer settings)', () => {
  const { cognito: _cognito, ...externalOnly } = config.auth;
  const build = (auth: typeof config.auth) => {
    const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
    const built = buildSwitchboard(app, { ...config, auth });
    return { app, built, template: Template.fromStack(built.api) };
  };
  const functionOf = (template: Template, description: RegExp) =>
    Object.values(template.findResources('AWS::Lambda::Function')).find((f) => description.test(String(f['Properties'].Description)))!;
  const restApiId = (template: Template) => Object.keys(template.findResources('AWS::ApiGateway::RestApi'))[0]!;
  const apiUrl = (template: Template) => `https://\${${restApiId(template)}}.execute-api.${config.primaryRegion}.\${AWS::URLSuffix}/v1`;
  // The MOCK methods but GET /healthz's (liveness, `{"ready":true}`: test/infra/observability.test.ts).
  const prmMethods = (template: Template) =>
    Object.values(template.findResources('AWS::ApiGateway::Method')).filter(
      (m) => m['Properties'].Integration.Type === 'MOCK' && m['Properties'].Integration.IntegrationResponses[0].ResponseTemplates['application/json'] !== '{"ready":true}',
    );

  it('serves the metadata at /v1/.well-known/oauth-protected-resource and its /mcp form: GET, no authorizer, no API key, a MOCK answer', () => {
    const { template } = build(externalOnly);
    const methods = prmMethods(template);
    expect(methods).toHaveLength(2);
    for (const method of methods) {
      expect(method['Properties']).toMatchObject({ HttpMethod: 'GET', AuthorizationType: 'NONE', ApiKeyRequired: false });
      expect(method['Properties'].Integration.IntegrationResponses[0]).toMatchObject({
        StatusCode: '200',
        ResponseParameters: { 'method.response.header.Content-Type': "'application/json'" },
      });
    }
    const parts = Object.entries(template.findResources('AWS::ApiGateway::Resource')).map(([id, r]) => [id, r['Properties'].PathPart, flat(r['Properties'].ParentId)]);
    const wellKnown = parts.find(([, part]) => part === '.well-known')!;
    const prm = parts.find(([, part, parent]) => part === 'oauth-protected-resource' && parent === `\${${wellKnown[0]}}`)!;
    expect(parts.find(([, part, parent]) => part === 'mcp' && parent === `\${${prm[0]}}`)).toBeDefined();
    expect(methods.map((m) => flat(m['Properties'].ResourceId)).sort()).toEqual([`\${${prm[0]}}`, expect.stringMatching(/^\$\{/)].sort());
  });

  it('describes the resource (RFC 9728): the API\'s own /v1/mcp URL, the trusted issuers, every scope, header tokens only', () => {
    const { template } = build(externalOnly);
    const documents = prmMethods(template).map((m) => JSON.parse(flat(m['Properties'].Integration.IntegrationResponses[0].ResponseTemplates['application/json'])));
    expect(documents[0]).toEqual(documents[1]);
    expect(documents[0]).toEqual({
      resource: `${apiUrl(template)}/mcp`,
      authorization_servers: config.auth.issuers.map((i) => i.issuer),
      scopes_supported: [...ALL_SCOPES],
      bearer_methods_supported: ['header'],
      resource_name: 'Switchboard MCP endpoint',
    });
  });

  it('challenges a missing or bad token (401) with the metadata\'s exact URL; a denied one stays 403 without a challenge', () => {
    const { template } = build(externalOnly);
    for (const type of ['UNAUTHORIZED', 'BAD_REQUEST_PARAMETERS']) {
      const [response] = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse', { Properties: { ResponseType: type } }));
      expect(response!['Properties'].StatusCode).toBe('401');
      expect(flat(response!['Properties'].ResponseParameters['gatewayresponse.header.WWW-Authenticate'])).toBe(
        `'Bearer resource_metadata="${apiUrl(template)}/.well-known/oauth-protected-resource/mcp"'`,
      );
    }
    const [denied] = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse', { Properties: { ResponseType: 'ACCESS_DENIED' } }));
    expect(denied!['Properties'].StatusCode).toBe('403');
    expect(denied!['Properties'].ResponseParameters['gatewayresponse.header.WWW-Authenticate']).toBeUndefined();
  });

  it('gives the authorizer the resource and the issuers (audience defaulting to the resource), and the gateway the resource', () => {
    const { template } = build(externalOnly);
    const authorizer = functionOf(template, /^Verifies bearer/)['Properties'].Environment.Variables;
    const resource = `${apiUrl(template)}/mcp`;
    expect(flat(authorizer.AUTH_RESOURCE)).toBe(resource);
    expect(JSON.parse(flat(authorizer.AUTH_ISSUERS))).toEqual(config.auth.issuers.map((i) => ({ ...i, audiences: [resource] })));
    expect(flat(functionOf(template, /^MCP server/)['Properties'].Environment.Variables.AUTH_RESOURCE)).toBe(resource);
  });

  it('uses auth.resource when set (a custom domain), and refuses one that does not end with /mcp', () => {
    const { template } = build({ ...externalOnly, resource: 'https://mcp.example.com/mcp' });
    const [response] = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse', { Properties: { ResponseType: 'UNAUTHORIZED' } }));
    expect(response!['Properties'].ResponseParameters['gatewayresponse.header.WWW-Authenticate']).toBe(
      `'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"'`,
    );
    expect(functionOf(template, /^Verifies bearer/)['Properties'].Environment.Variables.AUTH_RESOURCE).toBe('https://mcp.example.com/mcp');
    expect(() => build({ ...externalOnly, resource: 'https://mcp.example.com/' })).toThrow(/must end with \/mcp/);
  });

  it('trusts the Cognito issuer it is given (client_id audiences) besides the external ones, and names it in the metadata', () => {
    const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
    const built = buildSwitchboard(app, { ...config, auth: externalOnly });
    const cognito = IssuerSchema.parse({
      issuer: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool',
      jwksUri: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool/.well-known/jwks.json',
      audienceClaim: 'client_id',
      audiences: ['client-a'],
    });
    const api = new ApiStack(app, 'ApiWithIdentity', {
      env: { account: built.api.account, region: built.api.region },
      tasks: (built.stateful as unknown as { tasks: ApiStackProps['tasks'] }).tasks,
      queues: (built.messaging as unknown as { queues: ApiStackProps['queues'] }).queues,
      policiesDir: POLICIES_DIR,
      auth: config.auth,
      api: config.api,
      quotas: config.quotas,
      agents: config.agents,
      removalPolicy: RemovalPolicy.DESTROY,
      identity: { issuer: cognito, issuerUrl: cognito.issuer },
    });
    const template = Template.fromStack(api);
    const issuers = JSON.parse(flat(functionOf(template, /^Verifies bearer/)['Properties'].Environment.Variables.AUTH_ISSUERS)) as { issuer: string; audiences: string[] }[];
    expect(issuers.map((i) => [i.issuer, i.audiences])).toEqual([...config.auth.issuers.map((i) => [i.issuer, [`${apiUrl(template)}/mcp`]]), [cognito.issuer, ['client-a']]]);
    const document = JSON.parse(flat(prmMethods(template)[0]!['Properties'].Integration.IntegrationResponses[0].ResponseTemplates['application/json']));
    expect(document.authorization_servers).toEqual([...config.auth.issuers.map((i) => i.issuer), cognito.issuer]);
    expect(Annotations.fromStack(api).findError('*', Match.stringLikeRegexp('auth.cognito'))).toEqual([]);
  });

  it('fails synth (an error annotation) when auth.cognito is set but no Cognito issuer was given', () => {
    const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
    const built = buildSwitchboard(app, { ...config, auth: externalOnly });
    const api = new ApiStack(app, 'ApiWithoutIdentity', {
      env: { account: built.api.account, region: built.api.region },
      tasks: (built.stateful as unknown as { tasks: ApiStackProps['tasks'] }).tasks,
      queues: (built.messaging as unknown as { queues: ApiStackProps['queues'] }).queues,
      policiesDir: POLICIES_DIR,
      auth: { ...externalOnly, cognito: { domainPrefix: 'switchboard-test', machineClients: [], callbackUrls: ['http://localhost:6274/oauth/callback'] } },
      api: config.api,
      quotas: config.quotas,
      agents: config.agents,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    expect(Annotations.fromStack(api).findError('*', Match.stringLikeRegexp('auth.cognito is set'))).toHaveLength(1);
    expect(Annotations.fromStack(built.api).findError('*', Match.stringLikeRegexp('auth.cognito is set'))).toHaveLength(0);
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('reports no unacknowledged error or warning on any stack', () => {
    // The messages of the one synth above (Annotations.fromStack would synthesize the app again per call).
    for (const stack of Object.values(stacks)) {
      const findings = assembly
        .getStackArtifact(stack.artifactId)
        .messages.filter((m) => (m.level === 'error' || m.level === 'warning') && /AwsSolutions-/.test(String(m.entry.data)))
        .map((m) => `${m.id}: ${String(m.entry.data).slice(0, 120)}`);
      expect(findings, stack.stackName).toEqual([]);
    }
  });

  it('gives every acknowledgement a reason', () => {
    for (const template of Object.values(templates)) {
      for (const resource of Object.values(template.toJSON().Resources as Record<string, { Metadata?: { cdk_nag?: { rules_to_suppress: { reason: string }[] } } }>)) {
        for (const rule of resource.Metadata?.cdk_nag?.rules_to_suppress ?? []) expect(rule.reason.length).toBeGreaterThan(20);
      }
    }
  });
});

describe('construct guards', () => {
  it('PriorityQueues refuses a visibility timeout under six times the consumer timeout', () => {
    const stack = new Stack();
    expect(
      () =>
        new PriorityQueues(stack, 'Q', {
          encryptionKey: new Key(stack, 'K'),
          consumerTimeout: Duration.seconds(30),
          visibilityTimeout: Duration.seconds(120),
          maxReceiveCount: 5,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
    ).toThrow(/below 6× the consumer timeout/);
  });

  it('PriorityQueues refuses a consumer whose timeout outgrows the visibility timeout', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }));
    const queues = new PriorityQueues(stack, 'Q', {
      encryptionKey: new Key(stack, 'K'),
      consumerTimeout: Duration.seconds(10),
      maxReceiveCount: 5,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const fn = new SwitchboardFunction(stack, 'F', { entry: 'lambdas/worker/handler.ts', description: 'w', timeout: Duration.seconds(60) });
    expect(() => queues.addConsumer(fn, { batchSize: 10, concurrency: config.worker.concurrency })).toThrow(/too long/);
  });

  describe('PriorityQueues concurrency budgets', () => {
    const consumerWith = (concurrency: Record<string, number>) => () => {
      const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }));
      const queues = new PriorityQueues(stack, 'Q', {
        encryptionKey: new Key(stack, 'K'), consumerTimeout: Duration.seconds(10), maxReceiveCount: 5, removalPolicy: RemovalPolicy.DESTROY,
      });
      const fn = new SwitchboardFunction(stack, 'F', { entry: 'lambdas/worker/handler.ts', description: 'w', timeout: Duration.seconds(10) });
      queues.addConsumer(fn, { batchSize: 10, concurrency: concurrency as never });
    };

    it('refuses a budget below 2 or above 1000, naming the priority, the number and the range', () => {
      expect(consumerWith({ critical: 20, high: 10, normal: 5, low: 1 })).toThrow('concurrency.low 1 must be an integer from 2 to 1000');
      expect(consumerWith({ critical: 1001, high: 10, normal: 5, low: 2 })).toThrow('concurrency.critical 1001 must be an integer from 2 to 1000');
    });

    it('refuses a lower priority with a larger budget than the one above it', () => {
      expect(consumerWith({ critical: 20, high: 10, normal: 12, low: 2 })).toThrow(
        'concurrency.normal 12 exceeds concurrency.high 10: a higher priority never gets a smaller budget',
      );
    });

    it('accepts equal budgets', () => {
      expect(consumerWith({ critical: 5, high: 5, normal: 5, low: 5 })).not.toThrow();
    });
  });

  describe('agents on the worker', () => {
    const messaging = (agents: AgentManifest[]) => {
      const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
      const stateful = new StatefulStack(app, 'S', { removalPolicy: RemovalPolicy.DESTROY });
      return new MessagingStack(app, 'M', {
        key: stateful.key, tasks: stateful.tasks, agents, workerTimeout: Duration.seconds(30), batchSize: 10, concurrency: config.worker.concurrency, maxAttempts: 3,
        lease: Duration.seconds(10), removalPolicy: RemovalPolicy.DESTROY,
      });
    };
    const translator: AgentManifest = {
      name: 'translate', timeoutSeconds: 20,
      permissions: [{ actions: ['bedrock:InvokeModel'], resources: ['arn:aws:bedrock:us-east-1::foundation-model/example'] }],
    };

    it('grants the worker the permissions each enabled agent declares, and names the agents in its environment', () => {
      const template = Template.fromStack(messaging([AGENT_MANIFESTS.echo, translator]));
      template.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'bedrock:InvokeModel', Resource: translator.permissions[0]!.resources[0] })]) },
      });
      const worker = Object.values(template.findResources('AWS::Lambda::Function')).find((f) => f['Metadata']['switchboard:entry'] === 'lambdas/worker/handler.ts')!;
      expect(worker['Properties'].Environment.Variables.ENABLED_AGENTS).toBe('echo,translate');
    });

    it('refuses an agent that may run longer than the worker', () => {
      expect(() => messaging([{ ...translator, timeoutSeconds: 60 }])).toThrow(/agent "translate" may run 60s, longer than the worker timeout \(30s\)/);
    });
  });

  it('SwitchboardFunction refuses an entry that does not exist', () => {
    expect(() => new SwitchboardFunction(new Stack(), 'F', { entry: 'lambdas/nope/handler.ts', description: 'x' })).toThrow(/does not exist/);
  });

  it('config parsing names the bad key', () => {
    const bad = { ...(context['switchboard'] as object), worker: { timeoutSeconds: 1, batchSize: 10, maxAttempts: 3 } };
    expect(() => parseConfig(bad)).toThrow(/switchboard\.worker\.timeoutSeconds/);
    expect(() => parseConfig({ ...(context['switchboard'] as object), agents: ['nope'] })).toThrow(/switchboard\.agents/);
    const longLease = { ...(context['switchboard'] as object), worker: { ...config.worker, leaseSeconds: 60 } };
    expect(() => parseConfig(longLease)).toThrow(/switchboard\.worker\.leaseSeconds: leaseSeconds must not exceed timeoutSeconds/);
    const lowBudget = { ...(context['switchboard'] as object), worker: { ...config.worker, concurrency: { ...config.worker.concurrency, low: 1 } } };
    const fastAging = { ...(context['switchboard'] as object), worker: { ...config.worker, agingSeconds: { high: 60, normal: 30, low: 900 } } };
    expect(() => parseConfig(fastAging)).toThrow(/switchboard\.worker\.agingSeconds\.normal: Too small: expected number to be >=60/);
    const critical = { ...(context['switchboard'] as object), worker: { ...config.worker, agingSeconds: { ...config.worker.agingSeconds, critical: 60 } } };
    expect(() => parseConfig(critical)).toThrow(/switchboard\.worker\.agingSeconds/);
    expect(() => parseConfig(lowBudget)).toThrow(/switchboard\.worker\.concurrency\.low: Too small: expected number to be >=2/);
    const unknownTier = { ...(context['switchboard'] as object), quotas: { ...config.quotas, tenants: { acme: 'gold' } } };
    expect(() => parseConfig(unknownTier)).toThrow(/switchboard\.quotas\.tenants\.acme: unknown tier "gold"/);
    const { waf: _waf, ...apiWithoutWaf } = config.api;
    expect(parseConfig({ ...(context['switchboard'] as object), api: apiWithoutWaf }).api.waf).toEqual({ enabled: true, ratePerFiveMinutes: 3000 });
  });
});
