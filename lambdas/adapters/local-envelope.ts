import { hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  aadOf,
  checkEnvelopeContext,
  decodeSealed,
  EnvelopeContextError,
  openWithDataKey,
  sealWithDataKey,
  type Envelope,
  type EnvelopeContext,
} from '../domain/envelope';

/**
 * LOCAL ONLY (npm start, tests): Envelope on a 32-byte key kept in a file, never for a deployment
 * (the key sits in plain text on disk, with no rotation, audit or access control). Same blob format
 * as KmsEnvelope: the "wrapped key" is a random 32-byte salt, and the data key is
 * HKDF-SHA256(file key, salt, info = "switchboard/envelope" ‖ context), so the context is bound
 * both by the key derivation and as the AES-GCM additional data.
 */
export class LocalEnvelope implements Envelope {
  private constructor(
    private readonly masterKey: Uint8Array,
    private readonly levels: readonly string[] | undefined,
  ) {}

  /** From a key in memory (tests, --in-memory). `levels`, when given, are the only classifications accepted. */
  static fromKey(masterKey: Uint8Array, levels?: readonly string[]): LocalEnvelope {
    if (masterKey.length !== 32) throw new Error('LocalEnvelope: the key must be 32 bytes');
    return new LocalEnvelope(Uint8Array.from(masterKey), levels);
  }

  /** From the key file (base64 of 32 bytes); creates it, readable by its owner only, when missing. */
  static fromKeyFile(path: string, levels?: readonly string[]): LocalEnvelope {
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true });
      try {
        writeFileSync(path, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
        chmodSync(path, 0o600);
      } catch (error) {
        // Another function of the same local cloud created it first: use theirs.
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`LocalEnvelope: ${path} does not hold a base64 32-byte key`);
    return LocalEnvelope.fromKey(key, levels);
  }

  private dataKey(salt: Uint8Array, context: EnvelopeContext): Uint8Array {
    if (this.levels && !this.levels.includes(context.classification)) {
      throw new EnvelopeContextError(`no data key for classification "${context.classification}"`);
    }
    const info = Buffer.concat([Buffer.from('switchboard/envelope'), aadOf(context)]);
    return new Uint8Array(hkdfSync('sha256', this.masterKey, salt, info, 32));
  }

  async seal(plaintext: Uint8Array, context: EnvelopeContext): Promise<Uint8Array> {
    const ctx = checkEnvelopeContext(context);
    const salt = randomBytes(32);
    const key = this.dataKey(salt, ctx);
    try {
      return sealWithDataKey(key, salt, plaintext, ctx);
    } finally {
      key.fill(0);
    }
  }

  async open(sealed: Uint8Array, context: EnvelopeContext): Promise<Uint8Array> {
    const ctx = checkEnvelopeContext(context);
    const parts = decodeSealed(sealed);
    const key = this.dataKey(parts.wrappedKey, ctx);
    try {
      return openWithDataKey(key, parts, ctx);
    } finally {
      key.fill(0);
    }
  }
}
