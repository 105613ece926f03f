import { Duration, Names, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  ApiKey,
  ApiKeySourceType,
  Period,
  AuthorizationType,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  MockIntegration,
  PassthroughBehavior,
  type RequestValidator,
  ResponseType,
  RestApi,
  TokenAuthorizer,
} from 'aws-cdk-lib/aws-apigateway';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnLoggingConfiguration, CfnWebACL, CfnWebACLAssociation } from 'aws-cdk-lib/aws-wafv2';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { letLogsUse } from './switchboard-function';
import { Construct } from 'constructs';
import { NagSuppressions } from '../nag';
import { createHash } from 'node:crypto';
import { LIVENESS } from '../../lambdas/contracts/health';
import {
  ALL_SCOPES,
  bearerChallenge,
  edgeErrorBody,
  FORBIDDEN,
  PRM_PATH,
  resourceMetadataUrlOf,
  SHARED_USAGE_KEY,
  THROTTLED,
  UNAUTHORIZED,
  usageKeyOf,
  usagePlanOf,
  type QuotaSettings,
} from '../../lambdas/contracts';

/** The MCP endpoint's path. */
export const MCP_PATH = 'mcp';
/** Liveness (a MOCK: `{"ready":true}`) and, below it, the deep check (`/healthz/deep`, authorized). */
export const HEALTH_PATH = 'healthz';
export const DEEP_HEALTH_PATH = 'deep';
/** The stage: on the default execute-api URL, every path (the resource's, the metadata's) starts with it. */
export const STAGE_NAME = 'v1';

/**
 * What API Gateway answers when the authorizer rejects a token, as JSON-RPC; the 401s with the
 * Bearer challenge naming the resource's metadata (RFC 9728 §5.1). The local cloud serves the same
 * responses, read from the synthesized template.
 */
export const AUTH_GATEWAY_RESPONSES = [
  { type: ResponseType.UNAUTHORIZED, answer: UNAUTHORIZED, challenge: true },
  // The only validated request parameter is the Authorization header: missing, it is a 401 too,
  // whether API Gateway validates parameters before or after running the authorizer.
  { type: ResponseType.BAD_REQUEST_PARAMETERS, answer: UNAUTHORIZED, challenge: true },
  { type: ResponseType.ACCESS_DENIED, answer: FORBIDDEN, challenge: false },
] as const;

/** The endpoint as an OAuth 2.1 resource server: what its Protected Resource Metadata (RFC 9728) says. */
export interface OAuthResourceProps {
  /** The canonical URI (RFC 8707), ending with `/mcp`. Default: the API's own `https://{api}.execute-api.{region}.{suffix}/v1/mcp`. */
  resource?: string;
  /** The issuers of the tokens the authorizer accepts (deploy-time values allowed: Cognito's issuer URL). */
  authorizationServers: readonly string[];
  /** A human-readable name of the resource (letters, digits, spaces, `._-`). */
  resourceName: string;
  resourceDocumentation?: string;
}

/** The Protected Resource Metadata document (RFC 9728 §2) of `resource`. */
export const protectedResourceMetadata = (resource: string, oauth: OAuthResourceProps) => ({
  resource,
  authorization_servers: [...oauth.authorizationServers],
  scopes_supported: [...ALL_SCOPES],
  bearer_methods_supported: ['header'],
  resource_name: oauth.resourceName,
  ...(oauth.resourceDocumentation ? { resource_documentation: oauth.resourceDocumentation } : {}),
});

export interface McpApiProps {
  /** The function that answers MCP requests. */
  handler: LambdaFunction;
  /** The TOKEN authorizer function that verifies bearer JWTs. */
  authorizer: LambdaFunction;
  /** The resource server's metadata, served without auth at `PRM_PATH` and `PRM_PATH/mcp` under the stage. */
  oauth: OAuthResourceProps;
  throttlingRateLimit: number;
  throttlingBurstLimit: number;
  removalPolicy: RemovalPolicy;
  /** A WAFv2 web ACL on the stage blocking client IPs over this many requests per five minutes. Absent: none. */
  waf?: { ratePerFiveMinutes: number };
  /** The customer-managed key of its log groups (stage access logs, WAF logs). Absent: CloudWatch Logs' own encryption. */
  logEncryptionKey?: IKey;
  /**
   * Usage plans as the outer per-tenant guard: one per tier of `quotas` (throttle and daily quota
   * from `usagePlanOf`), an API key per tenant listed in `quotas.tenants` in its tier's plan, and
   * one shared key, in a plan as wide as the stage, for every other tenant. The authorizer names
   * the key (`usageIdentifierKey`, from `usageKeyOf(seed, tenant)`); clients never send one.
   * Absent: no usage plans.
   */
  usagePlans?: { seed: string; quotas: QuotaSettings };
}

/** Listed tenants with their own API key, at most (two resources each, in a stack of at most 500). */
export const MAX_METERED_TENANTS = 150;

/** What API Gateway answers a tenant over its usage plan (throttle, or the daily quota), as JSON-RPC. */
export const THROTTLE_GATEWAY_RESPONSES = [
  { type: ResponseType.THROTTLED, message: THROTTLED.message },
  { type: ResponseType.QUOTA_EXCEEDED, message: 'Too many requests: the daily request quota of your tenant is used up' },
] as const;

/**
 * A regional REST API in front of the MCP function: every method behind a JWT-verifying Lambda
 * authorizer (cached 5 minutes per token), JSON access logs, stage throttling, and JSON-RPC
 * shaped 401/403/429 bodies with `WWW-Authenticate: Bearer` on the first two; optionally a WAF web
 * ACL with a per-IP rate-based rule, and usage plans per tier (the authorizer names each tenant's
 * key: MCP clients present a bearer token only). Stage throttle, WAF and usage plans are the outer
 * guard; the per-tenant quotas that hold exactly are the gateway's (DynamoDB).
 */
export class McpApi extends Construct {
  readonly api: RestApi;
  readonly webAcl?: CfnWebACL;
  /** The canonical URI of the endpoint (the tokens' audience, PRM `resource`). */
  readonly resource: string;
  /** Where its Protected Resource Metadata is served (the challenges' `resource_metadata`). */
  readonly resourceMetadataUrl: string;
  private readonly authorizer: TokenAuthorizer;
  private readonly apiKeyRequired: boolean;

  constructor(scope: Construct, id: string, props: McpApiProps) {
    super(scope, id);
    if (props.waf && !(Number.isInteger(props.waf.ratePerFiveMinutes) && props.waf.ratePerFiveMinutes >= 100)) {
      throw new Error('McpApi: waf.ratePerFiveMinutes must be an integer of at least 100 (WAF\'s minimum)');
    }
    if (props.throttlingBurstLimit < props.throttlingRateLimit / 10) {
      throw new Error('McpApi: throttlingBurstLimit is too small for throttlingRateLimit');
    }
    const metered = Object.keys(props.usagePlans?.quotas.tenants ?? {});
    if (metered.length > MAX_METERED_TENANTS) {
      throw new Error(`McpApi: ${metered.length} tenants listed in quotas.tenants; usage plans take at most ${MAX_METERED_TENANTS} (two resources each)`);
    }
    for (const [tier, limits] of Object.entries(props.usagePlans?.quotas.tiers ?? {})) {
      if (usagePlanOf(limits).rateLimit > props.throttlingRateLimit) {
        throw new Error(`McpApi: quotas.tiers.${tier} allows ${usagePlanOf(limits).rateLimit} requests/s, more than the stage's throttlingRateLimit (${props.throttlingRateLimit}): it would never apply`);
      }
    }
    if (props.oauth.authorizationServers.length === 0) throw new Error('McpApi: oauth.authorizationServers is empty: no token could ever be obtained');
    if (!/^[A-Za-z0-9 ._-]{1,64}$/.test(props.oauth.resourceName)) throw new Error('McpApi: oauth.resourceName must be 1-64 letters, digits, spaces or ._-');
    if (props.oauth.resource !== undefined) resourceMetadataUrlOf(props.oauth.resource); // throws unless it ends with /mcp
    if (props.logEncryptionKey) letLogsUse(props.logEncryptionKey);
    const logKey = props.logEncryptionKey ? { encryptionKey: props.logEncryptionKey } : {};
    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: RetentionDays.ONE_YEAR, removalPolicy: props.removalPolicy, ...logKey });
    this.api = new RestApi(this, 'Api', {
      description: 'Switchboard MCP endpoint (Streamable HTTP, stateless)',
      endpointConfiguration: { types: [EndpointType.REGIONAL] },
      cloudWatchRole: false,
      ...(props.usagePlans ? { apiKeySourceType: ApiKeySourceType.AUTHORIZER } : {}),
      deployOptions: {
        stageName: STAGE_NAME,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.jsonWithStandardFields({
          caller: false, httpMethod: true, ip: true, protocol: true, requestTime: true,
          resourcePath: true, responseLength: true, status: true, user: true,
        }),
        loggingLevel: MethodLoggingLevel.ERROR,
        tracingEnabled: true,
        throttlingRateLimit: props.throttlingRateLimit,
        throttlingBurstLimit: props.throttlingBurstLimit,
      },
    });
    // Built from the API's id, not from its stage's URL: the functions' environment holds it, and the stage depends on them.
    const stack = Stack.of(this);
    this.resource = props.oauth.resource ?? `https://${this.api.restApiId}.execute-api.${stack.region}.${stack.urlSuffix}/${STAGE_NAME}/${MCP_PATH}`;
    this.resourceMetadataUrl = resourceMetadataUrlOf(this.resource);
    for (const response of AUTH_GATEWAY_RESPONSES) {
      this.api.addGatewayResponse(`${response.type.responseType}Response`, {
        type: response.type,
        statusCode: String(response.answer.status),
        responseHeaders: {
          ...(response.challenge ? { 'WWW-Authenticate': `'${bearerChallenge(this.resourceMetadataUrl)}'` } : {}),
          'Content-Type': `'application/json'`,
        },
        templates: { 'application/json': edgeErrorBody(response.answer) },
      });
    }
    for (const response of THROTTLE_GATEWAY_RESPONSES) {
      this.api.addGatewayResponse(`${response.type.responseType}Response`, {
        type: response.type,
        statusCode: '429',
        responseHeaders: { 'Content-Type': `'application/json'` },
        templates: { 'application/json': edgeErrorBody({ code: THROTTLED.code, message: response.message }) },
      });
    }
    const authorizer = (this.authorizer = new TokenAuthorizer(this, 'JwtAuthorizer', {
      handler: props.authorizer,
      resultsCacheTtl: Duration.minutes(5),
      validationRegex: '^Bearer [-A-Za-z0-9._~+/]+=*$',
    }));
    this.apiKeyRequired = props.usagePlans !== undefined;
    const mcp = this.api.root.addResource(MCP_PATH);
    // ANY, not only POST: the function itself answers GET/DELETE with 405 as Streamable HTTP requires.
    mcp.addMethod('ANY', new LambdaIntegration(props.handler, { proxy: true, timeout: Duration.seconds(29) }), {
      authorizationType: AuthorizationType.CUSTOM,
      authorizer,
      requestParameters: { 'method.request.header.Authorization': true },
      requestValidatorOptions: { validateRequestParameters: true, validateRequestBody: false },
      apiKeyRequired: props.usagePlans !== undefined,
    });
    this.addProtectedResourceMetadata(props.oauth);
    this.addLiveness();
    if (props.usagePlans) this.addUsagePlans(props.usagePlans, props);
    NagSuppressions.addResourceSuppressions(
      mcp,
      [
        {
          id: 'AwsSolutions-COG4',
          reason:
            'Tenants bring their own OpenID Connect issuer: the Lambda authorizer verifies its JWTs against the issuer JWKS, which a Cognito-only authorizer cannot.',
        },
      ],
      true,
    );
    NagSuppressions.addResourceSuppressions(
      [this.api, this.api.deploymentStage],
      [
        {
          id: 'AwsSolutions-APIG2',
          reason:
            'Parameters (the Authorization header) are validated by API Gateway; bodies are validated by the function (JSON-RPC, zod) because an API Gateway body model would answer malformed JSON with a non-JSON-RPC 400.',
        },
      ],
    );
    if (props.waf) {
      this.webAcl = new CfnWebACL(this, 'WebAcl', {
        scope: 'REGIONAL',
        defaultAction: { allow: {} },
        visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: 'SwitchboardMcpWebAcl', sampledRequestsEnabled: true },
        rules: [
          {
            name: 'RatePerClientIp',
            priority: 0,
            action: { block: {} },
            statement: { rateBasedStatement: { limit: props.waf.ratePerFiveMinutes, aggregateKeyType: 'IP' } },
            visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: 'SwitchboardMcpRatePerClientIp', sampledRequestsEnabled: true },
          },
        ],
      });
      new CfnWebACLAssociation(this, 'WebAclAssociation', {
        resourceArn: this.api.deploymentStage.stageArn,
        webAclArn: this.webAcl.attrArn,
      });
      // Every request WAF evaluates, to a log group of its own (WAF requires the aws-waf-logs- prefix); the bearer token redacted.
      const wafLogs = new LogGroup(this, 'WafLogs', {
        logGroupName: `aws-waf-logs-${Names.uniqueResourceName(this, { maxLength: 100 })}`,
        retention: RetentionDays.ONE_YEAR,
        removalPolicy: props.removalPolicy,
        ...logKey,
      });
      new CfnLoggingConfiguration(this, 'WafLogging', {
        resourceArn: this.webAcl.attrArn,
        logDestinationConfigs: [wafLogs.logGroupArn],
        redactedFields: [{ singleHeader: { Name: 'authorization' } }],
      });
    } else {
      NagSuppressions.addResourceSuppressions(this.api.deploymentStage, [
        {
          id: 'AwsSolutions-APIG3',
          reason:
            'api.waf.enabled is false in this deployment (an organisation-wide Firewall Manager policy attaches its own web ACL); the stage is throttled and every method is authorized.',
        },
      ]);
    }  }

  /**
   * The PRM document, answered by API Gateway itself (a MOCK integration: no function, no auth) at
   * `/v1/.well-known/oauth-protected-resource` and its path-suffixed form `…/mcp`. A static JSON
   * template built at synth (deploy-time values resolved by CloudFormation); the local cloud serves
   * the same template.
   */
  private addProtectedResourceMetadata(oauth: OAuthResourceProps): void {
    const document = Stack.of(this).toJsonString(protectedResourceMetadata(this.resource, oauth));
    const integration = new MockIntegration({
      passthroughBehavior: PassthroughBehavior.NEVER,
      requestTemplates: { 'application/json': '{"statusCode": 200}' },
      integrationResponses: [
        {
          statusCode: '200',
          responseTemplates: { 'application/json': document },
          responseParameters: {
            'method.response.header.Content-Type': "'application/json'",
            'method.response.header.Cache-Control': "'public, max-age=300'",
            // A public document: browser-based MCP clients (the Inspector) read it cross-origin.
            'method.response.header.Access-Control-Allow-Origin': "'*'",
          },
        },
      ],
    });
    const methodResponses = [
      {
        statusCode: '200',
        responseParameters: {
          'method.response.header.Content-Type': true,
          'method.response.header.Cache-Control': true,
          'method.response.header.Access-Control-Allow-Origin': true,
        },
      },
    ];
    const metadata = this.api.root.resourceForPath(PRM_PATH);
    for (const resource of [metadata, metadata.addResource(MCP_PATH)]) {
      resource.addMethod('GET', integration, { authorizationType: AuthorizationType.NONE, apiKeyRequired: false, methodResponses });
      NagSuppressions.addResourceSuppressions(resource, [
        { id: 'AwsSolutions-APIG4', reason: 'Protected Resource Metadata (RFC 9728) is public by definition: a client reads it to learn how to get a token.' },
        { id: 'AwsSolutions-COG4', reason: 'Protected Resource Metadata (RFC 9728) is public by definition: a client reads it to learn how to get a token.' },
      ], true);
    }
  }

  /**
   * GET /healthz: liveness, answered by API Gateway itself (a MOCK integration: no function, no
   * auth, no dependency touched) with `{"ready":true}`; the local cloud serves the same template.
   */
  private addLiveness(): void {
    const resource = this.api.root.addResource(HEALTH_PATH);
    resource.addMethod(
      'GET',
      new MockIntegration({
        passthroughBehavior: PassthroughBehavior.NEVER,
        requestTemplates: { 'application/json': '{"statusCode": 200}' },
        integrationResponses: [
          {
            statusCode: '200',
            responseTemplates: { 'application/json': JSON.stringify(LIVENESS) },
            responseParameters: { 'method.response.header.Content-Type': "'application/json'", 'method.response.header.Cache-Control': "'no-store'" },
          },
        ],
      }),
      {
        authorizationType: AuthorizationType.NONE,
        apiKeyRequired: false,
        methodResponses: [{ statusCode: '200', responseParameters: { 'method.response.header.Content-Type': true, 'method.response.header.Cache-Control': true } }],
      },
    );
    NagSuppressions.addResourceSuppressions(resource, [
      { id: 'AwsSolutions-APIG4', reason: 'Liveness only: a MOCK answer of API Gateway itself, no function, no data, nothing a caller learns but that the stage answers. The deep check (/healthz/deep) is authorized.' },
      { id: 'AwsSolutions-COG4', reason: 'Liveness only: a MOCK answer of API Gateway itself, no function, no data. The deep check (/healthz/deep) is authorized.' },
    ], true);
  }

  /**
   * GET /healthz/deep: the deep check (lib/constructs/health-check.ts) behind the JWT authorizer, as
   * /mcp is (the function itself answers 403 to anyone but the operator role).
   */
  addDeepHealth(handler: LambdaFunction): void {
    const resource = this.api.root.getResource(HEALTH_PATH)!.addResource(DEEP_HEALTH_PATH);
    resource.addMethod('GET', new LambdaIntegration(handler, { proxy: true, timeout: Duration.seconds(15) }), {
      authorizationType: AuthorizationType.CUSTOM,
      authorizer: this.authorizer,
      requestParameters: { 'method.request.header.Authorization': true },
      // The validator /mcp made (parameters only): the Authorization header is required here too.
      requestValidator: this.api.node.findChild('validator') as RequestValidator,
      apiKeyRequired: this.apiKeyRequired,
    });
    NagSuppressions.addResourceSuppressions(resource, [
      { id: 'AwsSolutions-COG4', reason: 'Tenants bring their own OpenID Connect issuer: the Lambda authorizer verifies its JWTs against the issuer JWKS, which a Cognito-only authorizer cannot.' },
    ], true);
  }

  private addUsagePlans(plans: NonNullable<McpApiProps['usagePlans']>, props: McpApiProps): void {
    const apiStages = [{ api: this.api, stage: this.api.deploymentStage }];
    const idOf = (name: string) => `${name.replace(/[^A-Za-z0-9]/g, '').slice(0, 40)}${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
    const byTier = new Map(
      Object.entries(plans.quotas.tiers).map(([tier, limits]) => {
        const plan = usagePlanOf(limits);
        return [
          tier,
          this.api.addUsagePlan(`Plan${idOf(tier)}`, {
            description: `Switchboard tier ${tier}: each listed tenant of the tier, on its own key`,
            throttle: { rateLimit: plan.rateLimit, burstLimit: plan.burstLimit },
            ...(plan.requestsPerDay !== undefined ? { quota: { limit: plan.requestsPerDay, period: Period.DAY } } : {}),
            apiStages,
          }),
        ];
      }),
    );
    const key = (id: string, tenant: string, description: string) =>
      new ApiKey(this, id, { value: usageKeyOf(plans.seed, tenant), description, enabled: true });
    for (const [tenant, tier] of Object.entries(plans.quotas.tenants)) {
      byTier.get(tier)!.addApiKey(key(`Key${idOf(tenant)}`, tenant, `Switchboard tenant ${tenant} (usage-plan meter named by the authorizer; grants nothing)`));
    }
    const shared = this.api.addUsagePlan('PlanShared', {
      description: 'Switchboard: tenants not listed in quotas.tenants share this key; the per-tenant limits of their tier hold in DynamoDB',
      throttle: { rateLimit: props.throttlingRateLimit, burstLimit: props.throttlingBurstLimit },
      apiStages,
    });
    shared.addApiKey(key('KeyShared', SHARED_USAGE_KEY, 'Switchboard: the tenants not listed in quotas.tenants (usage-plan meter named by the authorizer; grants nothing)'));
  }
}
