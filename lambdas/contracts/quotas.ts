import { createHash } from 'node:crypto';
import * as z from 'zod';

/**
 * Per-tenant quotas by tier: the one definition cdk.json's `quotas` is validated against, the
 * gateway's environment carries (as JSON) and the gateway reads back.
 *
 * A tenant's tier comes from the platform's config (`tenants`), not from a token claim: the tier
 * is a contract the platform sells, and a tenant's own identity provider must not be able to
 * raise it. Tenants not listed get `defaultTier`.
 */
export const QuotaTierSchema = z
  .object({
    /** Sustained submits per second (the bucket's refill rate). */
    submitsPerSecond: z.number().positive().max(10_000),
    /** Submits admitted at once after an idle spell (the bucket's size). */
    burst: z.number().int().min(1).max(100_000),
    /**
     * Tasks of the tenant acknowledged and not yet in a terminal state (queued or running), at most.
     * A submit past it is refused with retryAfterSeconds; absent: no limit.
     */
    maxInFlight: z.number().int().min(1).max(1_000_000).optional(),
    /**
     * The outer guard at the API (an API Gateway usage plan per tier; each tenant listed in
     * `tenants` has its own API key in it): every request of the tenant, not only submits.
     * Default: 10 × submitsPerSecond, and a burst of twice that.
     */
    requestsPerSecond: z.number().positive().max(10_000).optional(),
    requestBurst: z.number().int().min(1).max(5_000).optional(),
    /** Requests of one tenant per day (the usage plan's quota); absent: none. */
    requestsPerDay: z.number().int().min(1).optional(),
  })
  .strict();
export type QuotaTier = z.infer<typeof QuotaTierSchema>;

const TierNameSchema = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'lower-case letters, digits and -');

export const QuotaSettingsSchema = z
  .object({
    defaultTier: TierNameSchema,
    tiers: z.record(TierNameSchema, QuotaTierSchema),
    /** Tenant id → tier name. */
    tenants: z.record(z.string(), TierNameSchema).default({}),
  })
  .strict()
  .superRefine((quotas, ctx) => {
    for (const [where, tier] of [['defaultTier', quotas.defaultTier], ...Object.entries(quotas.tenants).map(([t, n]) => [`tenants.${t}`, n])]) {
      if (!(tier! in quotas.tiers)) ctx.addIssue({ code: 'custom', message: `unknown tier "${tier}"`, path: where!.split('.') });
    }
  });
export type QuotaSettings = z.infer<typeof QuotaSettingsSchema>;

/** The tier (and its limits) of a tenant. */
export const tierOf = (quotas: QuotaSettings, tenantId: string): { name: string; limits: QuotaTier } => {
  const name = quotas.tenants[tenantId] ?? quotas.defaultTier;
  return { name, limits: quotas.tiers[name]! };
};

/** A tier's usage plan at the API: throttle (rate, burst) and an optional daily quota. */
export const usagePlanOf = (tier: QuotaTier) => {
  const rateLimit = tier.requestsPerSecond ?? 10 * tier.submitsPerSecond;
  return {
    rateLimit,
    burstLimit: tier.requestBurst ?? Math.max(1, Math.ceil(2 * rateLimit)),
    ...(tier.requestsPerDay !== undefined ? { requestsPerDay: tier.requestsPerDay } : {}),
  };
};

/** The usage-plan key of tenants not listed in `tenants`: they share one, in a plan as wide as the stage. */
export const SHARED_USAGE_KEY = '*';

/**
 * The API key value that puts a tenant's requests in its usage plan. The authorizer returns it as
 * `usageIdentifierKey` (the API's key source is AUTHORIZER: API Gateway never reads a key from
 * the request), so it identifies a meter and grants nothing; it is derived from the deployment's
 * seed (unique per API) and the tenant, so the CDK app and the authorizer agree without storing it.
 */
export const usageKeyOf = (seed: string, tenantId: string): string =>
  `sb-${createHash('sha256').update(`switchboard-usage\n${seed}\n${tenantId}`).digest('hex').slice(0, 40)}`;

/** The usage-plan key of a tenant: its own when listed, else the shared one. */
export const usageKeyOfTenant = (quotas: QuotaSettings, seed: string, tenantId: string): string =>
  usageKeyOf(seed, Object.hasOwn(quotas.tenants, tenantId) ? tenantId : SHARED_USAGE_KEY);
