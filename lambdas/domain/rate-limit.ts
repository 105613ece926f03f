/**
 * A token bucket kept as one number (GCRA, the generic cell rate algorithm): the bucket's
 * "theoretical arrival time" `tat`. Each admitted request moves it `interval` ms on; a request at
 * `now` is admitted while `tat <= now + tolerance`. Over any span of E seconds that admits at most
 * burst + rate × E, exactly as a bucket of `burst` tokens refilled at `rate` per second, and it
 * needs no read-modify-write: "move tat on by interval if tat ≤ limit" is one conditional update.
 */
export interface RateLimits {
  /** Requests per second, sustained (the refill rate). */
  ratePerSecond: number;
  /** Requests admitted at once after an idle spell (the bucket's size). */
  burst: number;
}

export const gcra = (limits: RateLimits, nowMs: number) => {
  const interval = 1000 / limits.ratePerSecond;
  const tolerance = (limits.burst - 1) * interval;
  return {
    interval,
    /** Admitted while the stored tat is at most this. */
    admitUntil: nowMs + tolerance,
    /** The tat after admitting a request into an idle bucket (tat absent or ≤ now). */
    idleNext: nowMs + interval,
    /** Whole seconds until a request is admitted, for a bucket whose tat is `tat` (at least 1). */
    retryAfterSeconds: (tat: number) => Math.max(1, Math.ceil((tat - tolerance - nowMs) / 1000)),
  };
};
