import { MOTO_CREDENTIALS, MOTO_SERVER, startMoto } from '../../bin/harness/moto';
import { createPublicKey, verify } from 'node:crypto';
import { CreateKeyCommand, GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsAuditSigner } from '../../lambdas/adapters/audit-signer-kms';
import { auditDigestMessage, type AuditDigest } from '../../lambdas/contracts/audit';

/** The KMS signer against moto_server (from the image), on a loopback port; skipped when moto_server is absent. */

if (!MOTO_SERVER) console.warn('audit-signer-kms.test.ts: moto_server not found on PATH; the KMS signer test is skipped');

let moto: Awaited<ReturnType<typeof startMoto>> | undefined;
let kms: KMSClient;
beforeAll(async () => {
  if (!MOTO_SERVER) return;
  moto = await startMoto();
  kms = new KMSClient({ endpoint: moto.endpoint, region: 'us-east-1', credentials: MOTO_CREDENTIALS });
}, 25_000);
afterAll(() => {
  moto?.stop();
});

const digest: AuditDigest = { tenantId: 'acme', fromSeq: 1, toSeq: 42, headHash: 'a'.repeat(64), time: '2026-11-26T10:00:00.000Z' };

describe.skipIf(!MOTO_SERVER)('KmsAuditSigner against moto_server', () => {
  it('signs a digest with an ECC_NIST_P256 key (a DER ECDSA signature the public key verifies) and verifies only the genuine one', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', Description: 'audit digests' }));
    const signer = new KmsAuditSigner(kms, KeyMetadata!.KeyId!);
    const message = auditDigestMessage(digest);
    const signature = await signer.sign(message);

    const { PublicKey } = await kms.send(new GetPublicKeyCommand({ KeyId: signer.keyId }));
    const publicKey = createPublicKey({ key: Buffer.from(PublicKey!), format: 'der', type: 'spki' });
    expect(verify('sha256', message, { key: publicKey, dsaEncoding: 'der' }, Buffer.from(signature, 'base64'))).toBe(true);

    expect(await signer.verify(message, signature, signer.keyId)).toBe(true);
    expect(await signer.verify(auditDigestMessage({ ...digest, toSeq: 41 }), signature, signer.keyId)).toBe(false);
    expect(await signer.verify(message, signature, 'another-key')).toBe(false);
    expect(await signer.verify(message, '', signer.keyId)).toBe(false);
  });
});
