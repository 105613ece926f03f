/**
 * Typed domain errors. Each carries a stable `code`; the edges map them once to JSON-RPC / HTTP.
 * Messages are safe to show to the caller: they never include internals or secrets.
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends DomainError {
  readonly code = 'INVALID_INPUT';
}

export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
}

export class UnknownCapabilityError extends DomainError {
  readonly code = 'UNKNOWN_CAPABILITY';
  constructor(capability: string, known: readonly string[]) {
    super(`unknown capability "${capability}"; enabled capabilities: ${known.join(', ') || '(none)'}`);
  }
}

export class IdempotencyConflictError extends DomainError {
  readonly code = 'IDEMPOTENCY_CONFLICT';
  constructor() {
    super('this idempotencyKey was already used with different parameters');
  }
}

export class InvalidTransitionError extends DomainError {
  readonly code = 'INVALID_TRANSITION';
}

export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN';
}

/** A conditional write lost a race: the caller re-reads and decides again. */
export class ConcurrencyError extends DomainError {
  readonly code = 'CONFLICT';
}

/** The tenant's quota admits nothing more now; `retryAfterSeconds` says when it will. */
export class QuotaExceededError extends DomainError {
  readonly code = 'QUOTA_EXCEEDED';
  constructor(
    readonly retryAfterSeconds: number,
    /** Set when the limit hit is the tenant's tasks in flight (not its submit rate). */
    maxInFlight?: number,
  ) {
    super(
      maxInFlight === undefined
        ? `your tenant's submit rate quota is used up; retry after ${retryAfterSeconds} s`
        : `your tenant has ${maxInFlight} tasks in flight, its most; retry after ${retryAfterSeconds} s`,
    );
  }
}

/** The principal (one subject of a tenant) is over its tool calls per minute; `retryAfterSeconds` says when it is not. */
export class RateLimitedError extends DomainError {
  readonly code = 'RATE_LIMITED';
  constructor(
    readonly retryAfterSeconds: number,
    readonly toolCallsPerMinute: number,
  ) {
    super(`you are over ${toolCallsPerMinute} tool calls per minute; retry after ${retryAfterSeconds} s`);
  }
}
