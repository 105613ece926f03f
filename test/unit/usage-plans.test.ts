import { describe, expect, it } from 'vitest';
import { UsagePlanMeter } from '../../bin/local-cloud/usage-plans';

describe('local usage-plan meter (API Gateway throttle and quota per API key)', () => {
  it('admits a burst, then the refill rate, per key', () => {
    let now = Date.parse('2026-11-26T10:00:00Z');
    const meter = new UsagePlanMeter(() => now);
    const plan = { name: 'tiny', rateLimit: 2, burstLimit: 3 };
    expect(Array.from({ length: 5 }, () => meter.take('a', plan))).toEqual(['ok', 'ok', 'ok', 'throttled', 'throttled']);
    expect(meter.take('b', plan)).toBe('ok'); // another key has its own bucket
    now += 500; // one token back at 2/s
    expect([meter.take('a', plan), meter.take('a', plan)]).toEqual(['ok', 'throttled']);
    now += 10_000; // never more than the burst
    expect(Array.from({ length: 4 }, () => meter.take('a', plan))).toEqual(['ok', 'ok', 'ok', 'throttled']);
  });

  it('counts a daily quota per UTC day', () => {
    let now = Date.parse('2026-11-26T23:59:58Z');
    const meter = new UsagePlanMeter(() => now);
    const plan = { name: 'daily', requestsPerDay: 2 };
    expect([meter.take('a', plan), meter.take('a', plan), meter.take('a', plan)]).toEqual(['ok', 'ok', 'quota']);
    now += 5_000;
    expect(meter.take('a', plan)).toBe('ok');
  });
});
