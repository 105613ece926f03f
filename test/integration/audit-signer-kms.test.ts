import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { createServer } from 'node:net';
import { CreateKeyCommand, GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsAuditSigner } from '../../lambdas/adapters/audit-signer-kms';
import { auditDigestMessage, type AuditDigest } from '../../lambdas/contracts/audit';

/** The KMS signer against moto_server (from the image), on a loopback port; skipped when moto_server is absent. */

const moto = spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' }).stdout.trim();
if (!moto) console.warn('audit-signer-kms.test.ts: moto_server not found on PATH; the KMS signer test is skipped');

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });

let child: ChildProcess | undefined;
let kms: KMSClient;
beforeAll(async () => {
  if (!moto) return;
  const port = await freePort();
  child = spawn(moto, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  kms = new KMSClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  const until = Date.now() + 15_000;
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/moto-api/`);
      if (response.status < 500) break;
    } catch {
      if (Date.now() > until) throw new Error('moto_server did not start within 15 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}, 20_000);
afterAll(() => {
  child?.kill();
});

const digest: AuditDigest = { tenantId: 'acme', fromSeq: 1, toSeq: 42, headHash: 'a'.repeat(64), time: '2026-11-26T10:00:00.000Z' };

describe.skipIf(!moto)('KmsAuditSigner against moto_server', () => {
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
