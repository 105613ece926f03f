import type { AwsClientConfig } from '../../lambdas/adapters/runtime';
import { assertRunnableLocally, PROVISION_ORDER, RESOURCE_HANDLERS } from './resources/registry';
import { defaultIdentity, type ProvisionContext, type TemplateResource } from './resources/resource-handler';
import { TemplateResolver } from './resolver';
import type { SynthesizedStack } from './synth';

export const LOCAL_ACCOUNT = '000000000000';

export interface LocalFunction {
  name: string;
  entry: string;
  environment: Record<string, string>;
  timeoutMs: number;
  memoryMb: number;
}
export interface LocalRoute {
  path: string;
  method: string;
  /** The function of a Lambda proxy integration; absent on a MOCK one. */
  functionName?: string;
  /** A MOCK integration: API Gateway answers itself (status, headers, body), no function runs. */
  mock?: LocalGatewayResponse;
  authorizer?: { functionName: string; identityHeader: string; validation?: RegExp };
  /** The method requires an API key, taken from the authorizer's `usageIdentifierKey` or the x-api-key header. */
  apiKey?: { source: 'AUTHORIZER' | 'HEADER' };
}
/** A usage plan's limits, per API key (API Gateway meters each key of a plan on its own). */
export interface LocalUsagePlan {
  name: string;
  rateLimit?: number;
  burstLimit?: number;
  requestsPerDay?: number;
}
export interface LocalGatewayResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}
export interface LocalEventSource {
  queueUrl: string;
  queueArn: string;
  functionName: string;
  batchSize: number;
  /** Invocations the mapping may run at once (its ScalingConfig.MaximumConcurrency). */
  maxConcurrency: number;
  reportBatchItemFailures: boolean;
}
export interface LocalSchedule {
  rateMs: number;
  functionNames: string[];
}
export interface LocalPlatform {
  functions: Map<string, LocalFunction>;
  routes: LocalRoute[];
  gatewayResponses: Map<string, LocalGatewayResponse>;
  eventSources: LocalEventSource[];
  schedules: LocalSchedule[];
  tables: string[];
  queues: Map<string, string>;
  /** API key value → the limits of its usage plan. */
  usagePlans: Map<string, LocalUsagePlan>;
  /** The state machines the local Step Functions service runs. */
  stateMachines: { arn: string; name: string; type: 'STANDARD' | 'EXPRESS'; definition: object }[];
}

/**
 * Creates, in the emulators, the tables and queues the synthesized templates declare, and reads
 * the functions, routes, authorizers, gateway responses, event sources and schedules from them:
 * each CloudFormation type through its module under `resources/` (see `resources/registry.ts`).
 * A resource of any other type fails here, before the emulators are touched.
 */
export const provision = async (
  stacks: readonly SynthesizedStack[],
  aws: AwsClientConfig,
  region: string,
  log: (message: string) => void,
): Promise<LocalPlatform> => {
  const resources: TemplateResource[] = stacks.flatMap(({ stackName, template }) =>
    Object.entries(template.Resources).map(([id, resource]) => ({ stackName, id, resource })),
  );
  assertRunnableLocally(resources);
  const ctx: ProvisionContext = {
    resolver: new TemplateResolver(stacks, { region, accountId: LOCAL_ACCOUNT }),
    aws,
    region,
    accountId: LOCAL_ACCOUNT,
    log,
    resources,
    platform: {
      functions: new Map(),
      routes: [],
      gatewayResponses: new Map(),
      eventSources: [],
      schedules: [],
      tables: [],
      queues: new Map(),
      usagePlans: new Map(),
      stateMachines: [],
    },
  };

  // Pass 1: give every resource its local identity, so references resolve in any order.
  for (const resource of resources) {
    const identity = RESOURCE_HANDLERS.get(resource.resource.Type)?.identity ?? defaultIdentity;
    ctx.resolver.define(resource.stackName, resource.id, identity(ctx, resource));
  }
  // Pass 2: each type creates or collects its resources, phase by phase.
  for (const handler of PROVISION_ORDER) {
    await handler.provision?.(ctx, resources.filter((r) => r.resource.Type === handler.type));
  }
  return ctx.platform;
};
