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
