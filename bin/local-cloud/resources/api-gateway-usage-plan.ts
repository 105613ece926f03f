import type { LocalUsagePlan } from '../provision';
import { defaultIdentity, physicalName, propertiesOf, type ProvisionContext, type ResourceHandler, type TemplateResource } from './resource-handler';

/**
 * `AWS::ApiGateway::UsagePlan` and `AWS::ApiGateway::ApiKey` are read by their
 * `AWS::ApiGateway::UsagePlanKey`s: each key's value → its plan's throttle (rate, burst) and daily
 * quota, which the local API Gateway enforces per key (api-gateway.ts, usage-plans.ts).
 */
export const apiGatewayUsagePlan = { type: 'AWS::ApiGateway::UsagePlan' } satisfies ResourceHandler;
export const apiGatewayApiKey = { type: 'AWS::ApiGateway::ApiKey' } satisfies ResourceHandler;

const byRef = (ctx: ProvisionContext, stackName: string, ref: unknown, type: string): TemplateResource => {
  const name = ctx.resolver.string(stackName, ref);
  const found = ctx.resources.find(
    (r) => r.resource.Type === type && r.stackName === stackName && defaultIdentity(ctx, r).ref === name,
  );
  if (!found) throw new Error(`local cloud: ${stackName}: no ${type} named ${name}`);
  return found;
};

export const apiGatewayUsagePlanKey = {
  type: 'AWS::ApiGateway::UsagePlanKey',
  phase: 'wire',
  provision: (ctx, links) => {
    for (const link of links) {
      const p = propertiesOf(link);
      const key = propertiesOf(byRef(ctx, link.stackName, p['KeyId'], 'AWS::ApiGateway::ApiKey'));
      const planResource = byRef(ctx, link.stackName, p['UsagePlanId'], 'AWS::ApiGateway::UsagePlan');
      const plan = propertiesOf(planResource);
      const throttle = (plan['Throttle'] ?? {}) as { RateLimit?: number; BurstLimit?: number };
      const quota = plan['Quota'] as { Limit?: number; Period?: string } | undefined;
      if (key['Enabled'] === false || typeof key['Value'] !== 'string') continue;
      const limits: LocalUsagePlan = {
        name: physicalName(planResource.stackName, planResource.id),
        ...(throttle.RateLimit !== undefined ? { rateLimit: throttle.RateLimit } : {}),
        ...(throttle.BurstLimit !== undefined ? { burstLimit: throttle.BurstLimit } : {}),
        ...(quota?.Limit !== undefined && quota.Period === 'DAY' ? { requestsPerDay: quota.Limit } : {}),
      };
      ctx.platform.usagePlans.set(key['Value'], limits);
    }
  },
} satisfies ResourceHandler;
