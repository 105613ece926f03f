import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { AuditSigner, AuditVerifier } from '../domain/audit';

/**
 * LOCAL ONLY: signs audit digests with an ECDSA P-256 key kept in a PEM file (PKCS#8), created with
 * mode 0600 on first use. The signatures have the form of KMS ECC_NIST_P256 / ECDSA_SHA_256 ones (DER),
 * but a key on disk protects nothing against whoever can read the disk: on AWS digests are signed by
 * the asymmetric KMS key (audit-signer-kms.ts). Refuses a key file that others can read.
 */
export class LocalFileAuditSigner implements AuditSigner, AuditVerifier {
  readonly keyId: string;
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;

  constructor(keyFile: string) {
    if (!existsSync(keyFile)) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
      chmodSync(keyFile, 0o600);
    }
    if ((statSync(keyFile).mode & 0o077) !== 0) throw new Error(`the audit signing key ${keyFile} is readable by others: chmod 600 it`);
    this.privateKey = createPrivateKey(readFileSync(keyFile, 'utf8'));
    if (this.privateKey.asymmetricKeyType !== 'ec' || this.privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
      throw new Error(`the audit signing key ${keyFile} is not an ECDSA P-256 key`);
    this.publicKey = createPublicKey(this.privateKey);
    const spki = this.publicKey.export({ type: 'spki', format: 'der' });
    this.keyId = `local:${createHash('sha256').update(spki).digest('hex').slice(0, 32)}`;
  }

  async sign(message: Uint8Array): Promise<string> {
    return sign('sha256', message, { key: this.privateKey, dsaEncoding: 'der' }).toString('base64');
  }

  async verify(message: Uint8Array, signature: string, keyId: string): Promise<boolean> {
    if (keyId !== this.keyId) return false;
    try {
      return verify('sha256', message, { key: this.publicKey, dsaEncoding: 'der' }, Buffer.from(signature, 'base64'));
    } catch {
      return false;
    }
  }
}
