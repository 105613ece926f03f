import type { LocalUsagePlan } from './provision';

export type UsageVerdict = 'ok' | 'throttled' | 'quota';

/**
 * API Gateway's usage-plan metering per API key, in memory: a token bucket of `burstLimit`
 * tokens refilled at `rateLimit` per second (API Gateway's throttle), and a count of requests per
 * UTC day against `requestsPerDay` (the plan's quota). A plan without a throttle is not throttled.
 */
export class UsagePlanMeter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly days = new Map<string, { day: string; count: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  take(key: string, plan: LocalUsagePlan): UsageVerdict {
    const now = this.now();
    if (plan.requestsPerDay !== undefined) {
      const day = new Date(now).toISOString().slice(0, 10);
      const used = this.days.get(key);
      const count = used?.day === day ? used.count : 0;
      if (count >= plan.requestsPerDay) return 'quota';
      this.days.set(key, { day, count: count + 1 });
    }
    if (plan.rateLimit === undefined) return 'ok';
    const size = Math.max(1, plan.burstLimit ?? Math.ceil(plan.rateLimit));
    const bucket = this.buckets.get(key) ?? { tokens: size, at: now };
    const tokens = Math.min(size, bucket.tokens + ((now - bucket.at) / 1000) * plan.rateLimit);
    if (tokens < 1) {
      this.buckets.set(key, { tokens, at: now });
      return 'throttled';
    }
    this.buckets.set(key, { tokens: tokens - 1, at: now });
    return 'ok';
  }
}
