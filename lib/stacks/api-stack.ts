import { Annotations, RemovalPolicy, Stack, type StackProps, CfnOutput, Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { authEnvironment, ENV, type IssuerSettings } from '../../lambdas/contracts';
import type { SwitchboardConfig } from '../config';
import { McpApi, MCP_PATH } from '../constructs/mcp-api';
import type { PriorityQueues } from '../constructs/priority-queues';
import { SwitchboardFunction } from '../constructs/switchboard-function';
import { POLICIES_PATH } from '../policies';
import type { TasksTable } from '../constructs/tasks-table';
import { TenantScopedAccess } from '../constructs/tenant-access';
import type { DataKeys } from '../constructs/data-keys';
import type { IKey } from 'aws-cdk-lib/aws-kms';

export interface ApiStackProps extends StackProps {
  tasks: TasksTable;
  queues: PriorityQueues;
  auth: SwitchboardConfig['auth'];
  api: SwitchboardConfig['api'];
  quotas: SwitchboardConfig['quotas'];
  agents: readonly string[];
  removalPolicy: RemovalPolicy;
  /** The access policies' folder in the source tree (validated by the app), shipped in the gateway's bundle. */
  policiesDir: string;
  /** The Cognito user pool's issuer (the Identity construct's), trusted besides auth.issuers; required when auth.cognito is set. */
  identity?: { issuer: IssuerSettings; issuerUrl: string };
  /** The data keys: the gateway seals and opens sensitive task data on each tenant's session. Absent: nothing sealed. */
  dataKeys?: DataKeys;
  /** The customer-managed key of the log groups (the platform key). Absent: CloudWatch Logs' own encryption. */
  logKey?: IKey;
}

/** The tenant-facing edge: REST API, JWT authorizer, MCP gateway function. */
export class ApiStack extends Stack {
  readonly mcpApi: McpApi;
  readonly gateway: SwitchboardFunction;
  readonly tenantAccess: TenantScopedAccess;
  /** Unique per deployment (account, region, stack): API key values must be unique in an account and region. */
  private get usageKeySeed(): string {
    return `${this.stackName}`;
  }

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const gateway = (this.gateway = new SwitchboardFunction(this, 'McpGateway', {
      entry: 'lambdas/mcp-gateway/handler.ts',
      description: 'MCP server (both protocol eras): submit, get, list, cancel tasks',
      timeout: Duration.seconds(29),
      memorySize: 1024,
      removalPolicy: props.removalPolicy,
      ...(props.logKey ? { logEncryptionKey: props.logKey } : {}),
      // The Cedar policies ship with the function, at the same path relative to its code root as in the source tree.
      accessPolicies: { from: props.policiesDir, to: POLICIES_PATH },
      environment: {
        [ENV.policiesDir]: POLICIES_PATH,
        [ENV.principalLimits]: JSON.stringify(props.auth.limits),
        [ENV.enabledAgents]: props.agents.join(','),
        [ENV.maxBodyBytes]: String(props.api.maxRequestBodyBytes),
        [ENV.quotas]: JSON.stringify(props.quotas),
        ...(props.api.allowedOrigins?.length ? { [ENV.allowedOrigins]: props.api.allowedOrigins.join(',') } : {}),
      },
    }));
    // Tenant data only through a role assumed per caller's tenant (LeadingKeys on the tenant tag); the shared partitions on its own.
    this.tenantAccess = new TenantScopedAccess(this, 'TenantScopedAccess', { tasks: props.tasks, fn: gateway, ...(props.dataKeys ? { dataKeys: props.dataKeys } : {}) });
    props.queues.bindProducer(gateway);

    const authorizer = new SwitchboardFunction(this, 'Authorizer', {
      entry: 'lambdas/authorizer/handler.ts',
      description: 'Verifies bearer access tokens of the trusted issuers (JWKS, audience, expiry); yields tenant, roles and scopes',
      timeout: Duration.seconds(10),
      removalPolicy: props.removalPolicy,
      ...(props.logKey ? { logEncryptionKey: props.logKey } : {}),
      environment: {
        [ENV.quotas]: JSON.stringify(props.quotas),
        [ENV.usageKeySeed]: this.usageKeySeed,
      },
    });

    // An error annotation, not a throw: `cdk synth` fails on it, and the stack is still built for tests meanwhile.
    if (props.auth.cognito && !props.identity) Annotations.of(this).addError('auth.cognito is set but the API was given no identity (the Cognito issuer): its tokens would be refused');
    const trusted = [
      ...props.auth.issuers.map((issuer) => ({ issuer, url: issuer.issuer })),
      ...(props.identity ? [{ issuer: props.identity.issuer, url: props.identity.issuerUrl }] : []),
    ];
    this.mcpApi = new McpApi(this, 'Mcp', {
      handler: gateway,
      authorizer,
      oauth: {
        ...(props.auth.resource ? { resource: props.auth.resource } : {}),
        authorizationServers: trusted.map((t) => t.url),
        resourceName: 'Switchboard MCP endpoint',
      },
      throttlingRateLimit: props.api.throttlingRateLimit,
      throttlingBurstLimit: props.api.throttlingBurstLimit,
      ...(props.api.waf.enabled ? { waf: { ratePerFiveMinutes: props.api.waf.ratePerFiveMinutes } } : {}),
      usagePlans: { seed: this.usageKeySeed, quotas: props.quotas },
      removalPolicy: props.removalPolicy,
      ...(props.logKey ? { logEncryptionKey: props.logKey } : {}),
    });
    // The resource (default: the API's own /mcp URL) is every issuer's default audience.
    const resource = this.mcpApi.resource;
    const issuers = trusted.map(({ issuer }) => ({ ...issuer, audiences: issuer.audiences ?? [resource] }));
    for (const [name, value] of Object.entries(authEnvironment({ resource, issuers }, (v) => this.toJsonString(v)))) {
      authorizer.addEnvironment(name, value);
    }
    gateway.addEnvironment(ENV.authResource, resource);
    // DNS-rebinding protection on AWS: the only Host the function accepts is the API's own domain.
    gateway.addEnvironment(ENV.allowedHosts, `${this.mcpApi.api.restApiId}.execute-api.${this.region}.${this.urlSuffix}`);
    new CfnOutput(this, 'McpEndpoint', { value: this.mcpApi.api.urlForPath(`/${MCP_PATH}`) });
  }
}
