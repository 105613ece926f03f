import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { DomainError } from './errors';

/**
 * Envelope encryption of a task's sensitive data (inputs, results, step data). Each value gets its
 * own data key; the context binds the ciphertext to its tenant, task and classification level, so
 * a value sealed for tenant A never opens as tenant B's, nor for another task or level.
 * Adapters: lambdas/adapters/kms-envelope.ts (AWS KMS), lambdas/adapters/local-envelope.ts (a local
 * key file, local only). Both write the same blob format (SEALED_FORMAT below).
 */
export interface EnvelopeContext {
  tenant: string;
  task: string;
  classification: string;
}

export interface Envelope {
  /** Encrypts `plaintext` under `context.classification`'s key, bound to the whole context. */
  seal(plaintext: Uint8Array, context: EnvelopeContext): Promise<Uint8Array>;
  /** Decrypts a sealed value; throws EnvelopeOpenError unless it was sealed with this very context and is intact. */
  open(sealed: Uint8Array, context: EnvelopeContext): Promise<Uint8Array>;
}

/** A sealed value that does not open: altered, truncated, or sealed for another tenant, task or level. Says no more. */
export class EnvelopeOpenError extends DomainError {
  readonly code = 'SEALED_DATA_UNREADABLE';
  constructor() {
    super('the sealed data cannot be opened with this context');
  }
}

/** A context no adapter may seal with: every field is required, short and printable. */
export class EnvelopeContextError extends DomainError {
  readonly code = 'INVALID_INPUT';
}

const CONTEXT_VALUE = /^[\x21-\x7e]{1,256}$/;

/** Checks the context before any key is asked for. */
export const checkEnvelopeContext = (context: EnvelopeContext): EnvelopeContext => {
  for (const key of ['tenant', 'task', 'classification'] as const) {
    const value: unknown = context[key];
    if (typeof value !== 'string' || !CONTEXT_VALUE.test(value)) {
      throw new EnvelopeContextError(`envelope context ${key} must be 1–256 printable characters without spaces`);
    }
  }
  return { tenant: context.tenant, task: context.task, classification: context.classification };
};

/**
 * The sealed blob, version 1 (big-endian):
 *   [0]       version = 1
 *   [1..2]    n = length of the wrapped key
 *   [3..3+n)  wrapped key: the KMS CiphertextBlob of the data key, or the local adapter's HKDF salt
 *   next 12   AES-GCM IV
 *   next …    AES-256-GCM ciphertext
 *   last 16   AES-GCM tag
 * The AES-GCM additional data is `aadOf(context)`, so the context is bound by the cipher itself
 * as well as by KMS (or HKDF, locally).
 */
export const SEALED_FORMAT = { version: 1, ivBytes: 12, tagBytes: 16, maxWrappedKeyBytes: 1024 } as const;

export interface SealedParts {
  wrappedKey: Uint8Array;
  iv: Uint8Array;
  ciphertext: Uint8Array;
  tag: Uint8Array;
}

/** The context as canonical bytes: version, then each field in a fixed order, length-prefixed. */
export const aadOf = (context: EnvelopeContext): Uint8Array => {
  const fields = [context.tenant, context.task, context.classification].map((v) => new TextEncoder().encode(v));
  const out = new Uint8Array(1 + fields.reduce((sum, f) => sum + 2 + f.length, 0));
  out[0] = SEALED_FORMAT.version;
  let at = 1;
  for (const field of fields) {
    out[at] = field.length >> 8;
    out[at + 1] = field.length & 0xff;
    out.set(field, at + 2);
    at += 2 + field.length;
  }
  return out;
};

export const encodeSealed = (parts: SealedParts): Uint8Array => {
  const { wrappedKey, iv, ciphertext, tag } = parts;
  if (wrappedKey.length < 1 || wrappedKey.length > SEALED_FORMAT.maxWrappedKeyBytes) throw new Error('wrapped key length out of range');
  const out = new Uint8Array(3 + wrappedKey.length + iv.length + ciphertext.length + tag.length);
  out[0] = SEALED_FORMAT.version;
  out[1] = wrappedKey.length >> 8;
  out[2] = wrappedKey.length & 0xff;
  out.set(wrappedKey, 3);
  out.set(iv, 3 + wrappedKey.length);
  out.set(ciphertext, 3 + wrappedKey.length + iv.length);
  out.set(tag, out.length - tag.length);
  return out;
};

/** Splits a sealed blob; anything malformed (unknown version, lengths that do not add up) is an EnvelopeOpenError. */
export const decodeSealed = (sealed: Uint8Array): SealedParts => {
  if (!(sealed instanceof Uint8Array) || sealed.length < 3 || sealed[0] !== SEALED_FORMAT.version) throw new EnvelopeOpenError();
  const n = (sealed[1]! << 8) | sealed[2]!;
  const ivAt = 3 + n;
  const tagAt = sealed.length - SEALED_FORMAT.tagBytes;
  if (n < 1 || n > SEALED_FORMAT.maxWrappedKeyBytes || ivAt + SEALED_FORMAT.ivBytes > tagAt) throw new EnvelopeOpenError();
  return {
    wrappedKey: sealed.subarray(3, ivAt),
    iv: sealed.subarray(ivAt, ivAt + SEALED_FORMAT.ivBytes),
    ciphertext: sealed.subarray(ivAt + SEALED_FORMAT.ivBytes, tagAt),
    tag: sealed.subarray(tagAt),
  };
};

/** AES-256-GCM under `dataKey`, the context as additional data: the part both adapters share. */
export const sealWithDataKey = (dataKey: Uint8Array, wrappedKey: Uint8Array, plaintext: Uint8Array, context: EnvelopeContext): Uint8Array => {
  if (dataKey.length !== 32) throw new Error('a data key is 32 bytes (AES-256)');
  const iv = randomBytes(SEALED_FORMAT.ivBytes);
  const cipher = createCipheriv('aes-256-gcm', dataKey, iv, { authTagLength: SEALED_FORMAT.tagBytes });
  cipher.setAAD(aadOf(context));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return encodeSealed({ wrappedKey, iv, ciphertext, tag: cipher.getAuthTag() });
};

/** Opens what sealWithDataKey sealed; a wrong key, context or any altered byte is an EnvelopeOpenError. */
export const openWithDataKey = (dataKey: Uint8Array, parts: SealedParts, context: EnvelopeContext): Uint8Array => {
  try {
    const decipher = createDecipheriv('aes-256-gcm', dataKey, parts.iv, { authTagLength: SEALED_FORMAT.tagBytes });
    decipher.setAAD(aadOf(context));
    decipher.setAuthTag(parts.tag);
    return new Uint8Array(Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]));
  } catch {
    throw new EnvelopeOpenError();
  }
};

export interface OpenedCacheOptions {
  /** How long an opened value is kept (ms). */
  maxAgeMs: number;
  /** Bytes of opened values kept at most (the oldest go first). */
  maxBytes: number;
  now?: () => number;
}

/** What a container keeps by default: a minute, 8 MiB in all. */
export const OPENED_CACHE_DEFAULTS: OpenedCacheOptions = { maxAgeMs: 60_000, maxBytes: 8 * 2 ** 20 };

/**
 * The opened values a container keeps, under one byte budget however many envelopes (one per tenant
 * session) share it: a minute at most each, the oldest going first.
 */
export class OpenedValues {
  private readonly entries = new Map<string, { value: Uint8Array; at: number }>();
  private bytes = 0;
  private readonly now: () => number;

  constructor(private readonly options: OpenedCacheOptions = OPENED_CACHE_DEFAULTS) {
    this.now = options.now ?? Date.now;
  }

  /** A copy of the value kept under `key`, if it is younger than maxAgeMs. */
  get(key: string): Uint8Array | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (this.now() - hit.at < this.options.maxAgeMs) return hit.value.slice();
    this.forget(key);
    return undefined;
  }

  put(key: string, value: Uint8Array): void {
    if (value.length > this.options.maxBytes) return;
    this.forget(key);
    this.entries.set(key, { value: value.slice(), at: this.now() });
    this.bytes += value.length;
    for (const [oldest] of this.entries) {
      if (this.bytes <= this.options.maxBytes) break;
      this.forget(oldest);
    }
  }

  /** Values kept now. */
  get size(): number {
    return this.entries.size;
  }

  private forget(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.value.fill(0);
    this.bytes -= entry.value.length;
    this.entries.delete(key);
  }
}

/**
 * An envelope that remembers, for a short while, the values it opened: the same sealed value opened
 * again with the same context (a client polling a sensitive task: tasks/get, get_task) costs no
 * KMS Decrypt. Safe across tenants by construction: an entry is found only by the SHA-256 of the
 * exact sealed bytes *and* the exact context, and it exists only because an inner envelope opened
 * those bytes with that context (for KMS: on the tenant's own session, its key policy satisfied).
 * An altered byte is another hash, so tampering still fails in the inner envelope. Each update of a
 * task seals anew (a fresh data key), so an entry never hides a newer value. Sealing is not cached.
 * The trade: CloudTrail shows one Decrypt per value per container per maxAgeMs, not one per read.
 */
export class OpenedValueCache implements Envelope {
  constructor(
    /** The envelope that really opens (KMS, or the local key file). */
    readonly inner: Envelope,
    /** Shared by the container's envelopes (one budget); by default its own. */
    readonly values: OpenedValues = new OpenedValues(),
  ) {}

  seal(plaintext: Uint8Array, context: EnvelopeContext): Promise<Uint8Array> {
    return this.inner.seal(plaintext, context);
  }

  async open(sealed: Uint8Array, context: EnvelopeContext): Promise<Uint8Array> {
    const ctx = checkEnvelopeContext(context);
    const key = `${createHash('sha256').update(sealed).digest('base64')}\n${ctx.tenant}\n${ctx.task}\n${ctx.classification}`;
    const kept = this.values.get(key);
    if (kept) return kept;
    const value = await this.inner.open(sealed, ctx);
    this.values.put(key, value);
    return value;
  }
}
