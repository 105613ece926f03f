import { MOTO_CREDENTIALS, MOTO_SERVER, startMoto } from '../../bin/harness/moto';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsEnvelope } from '../../lambdas/adapters/kms-envelope';
import { EnvelopeOpenError, type EnvelopeContext } from '../../lambdas/domain/envelope';

/**
 * KmsEnvelope against moto_server's KMS (GenerateDataKey and Decrypt with an encryption context),
 * an extra check of the adapter beside the unit tests' fake. Skipped, saying so, without moto_server.
 */
describe.skipIf(!MOTO_SERVER)(`KmsEnvelope on moto_server's KMS${MOTO_SERVER ? '' : ' (skipped: moto_server is not on PATH)'}`, () => {
  let moto: Awaited<ReturnType<typeof startMoto>>;
  let kms: KMSClient;
  const keys: Record<string, string> = {};
  const A: EnvelopeContext = { tenant: 'acme', task: 'task-1', classification: 'confidential' };
  const SECRET = new TextEncoder().encode('{"ssn":"078-05-1120"}');

  beforeAll(async () => {
    moto = await startMoto();
    kms = new KMSClient({ endpoint: moto.endpoint, region: 'us-east-1', credentials: MOTO_CREDENTIALS });
    for (const level of ['confidential', 'restricted']) {
      keys[level] = (await kms.send(new CreateKeyCommand({ Description: level }))).KeyMetadata!.Arn!;
    }
  });

  afterAll(() => {
    kms?.destroy();
    moto?.stop();
  });

  it('opens what it sealed with the same context', async () => {
    const envelope = new KmsEnvelope(kms, keys);

    expect(await envelope.open(await envelope.seal(SECRET, A), A)).toEqual(SECRET);
  });

  it("refuses tenant A's ciphertext under tenant B's context, another task's, or another level's key", async () => {
    const envelope = new KmsEnvelope(kms, keys);
    const sealed = await envelope.seal(SECRET, A);

    for (const other of [{ ...A, tenant: 'globex' }, { ...A, task: 'task-2' }, { ...A, classification: 'restricted' }]) {
      await expect(envelope.open(sealed, other), JSON.stringify(other)).rejects.toBeInstanceOf(EnvelopeOpenError);
    }
  });

  it('refuses a blob whose wrapped data key or ciphertext was altered', async () => {
    const envelope = new KmsEnvelope(kms, keys);
    const sealed = await envelope.seal(SECRET, A);
    const n = (sealed[1]! << 8) | sealed[2]!;

    for (const at of [3 + Math.floor(n / 2), sealed.length - 20]) {
      const tampered = Uint8Array.from(sealed);
      tampered[at]! ^= 0x01;
      await expect(envelope.open(tampered, A)).rejects.toBeInstanceOf(EnvelopeOpenError);
    }
  });
});
