import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { dataKeyEnvName } from '../contracts/classification';
import {
  checkEnvelopeContext,
  decodeSealed,
  EnvelopeContextError,
  EnvelopeOpenError,
  openWithDataKey,
  sealWithDataKey,
  type Envelope,
  type EnvelopeContext,
} from '../domain/envelope';

/** KMS answers that mean "this ciphertext is not yours to open" (not outages or missing grants). */
const UNOPENABLE = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);

/** The context as KMS takes it: the same three keys the key policy requires (ENCRYPTION_CONTEXT_KEYS). */
const kmsContext = (context: EnvelopeContext): Record<string, string> => ({
  tenant: context.tenant,
  task: context.task,
  classification: context.classification,
});

/**
 * Envelope on AWS KMS: a fresh 256-bit data key per value from GenerateDataKey under the level's
 * key, the context bound in KMS (encryption context) and in AES-GCM (additional data); the data
 * key's plaintext is wiped after use. Decrypt names the level's key, so a blob cannot be opened
 * with another level's key either.
 */
export class KmsEnvelope implements Envelope {
  constructor(
    private readonly kms: KMSClient,
    /** Level → key ARN (or alias ARN). */
    private readonly keys: Readonly<Record<string, string>>,
  ) {}

  private keyOf(classification: string): string {
    const key = this.keys[classification];
    if (!key) throw new EnvelopeContextError(`no data key for classification "${classification}"`);
    return key;
  }

  async seal(plaintext: Uint8Array, context: EnvelopeContext): Promise<Uint8Array> {
    const ctx = checkEnvelopeContext(context);
    const out = await this.kms.send(
      new GenerateDataKeyCommand({ KeyId: this.keyOf(ctx.classification), KeySpec: 'AES_256', EncryptionContext: kmsContext(ctx) }),
    );
    if (!out.Plaintext || !out.CiphertextBlob) throw new Error('KMS GenerateDataKey returned no key');
    try {
      return sealWithDataKey(out.Plaintext, out.CiphertextBlob, plaintext, ctx);
    } finally {
      out.Plaintext.fill(0);
    }
  }

  async open(sealed: Uint8Array, context: EnvelopeContext): Promise<Uint8Array> {
    const ctx = checkEnvelopeContext(context);
    const parts = decodeSealed(sealed);
    let dataKey: Uint8Array | undefined;
    try {
      const out = await this.kms.send(
        new DecryptCommand({ KeyId: this.keyOf(ctx.classification), CiphertextBlob: parts.wrappedKey, EncryptionContext: kmsContext(ctx) }),
      );
      dataKey = out.Plaintext;
    } catch (error) {
      if (error instanceof Error && UNOPENABLE.has(error.name)) throw new EnvelopeOpenError();
      throw error;
    }
    if (!dataKey) throw new Error('KMS Decrypt returned no key');
    try {
      return openWithDataKey(dataKey, parts, ctx);
    } finally {
      dataKey.fill(0);
    }
  }
}

/** Level → key ARN from the `DATA_KEY_ARN_<LEVEL>` variables DataKeys.grant… sets. */
export const dataKeysFromEnv = (env: NodeJS.ProcessEnv, levels: readonly string[]): Record<string, string> =>
  Object.fromEntries(levels.flatMap((level) => (env[dataKeyEnvName(level)] ? [[level, env[dataKeyEnvName(level)]!]] : [])));
