import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32 of the first 130 bits, lowercase, no padding: 26 characters. */
const base32 = (bytes: Uint8Array): string => {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out.slice(0, 26);
};

export const randomTaskId = (): string => `tsk_${base32(randomBytes(17))}`;

/** The same tenant and idempotency key always give the same task id; other tenants never collide with it. */
export const taskIdFor = (tenantId: string, idempotencyKey: string): string =>
  `tsk_${base32(createHash('sha256').update(`${tenantId}\u0000${idempotencyKey}`).digest())}`;

/** A stable hash of a JSON value: object keys sorted, so key order does not change it. */
export const stableHash = (value: unknown): string =>
  createHash('sha256').update(canonicalJson(value)).digest('base64url');

export const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
};
