import { KMSInvalidSignatureException, SignCommand, VerifyCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { AuditSigner, AuditVerifier } from '../domain/audit';

/**
 * Signs audit digests with an asymmetric KMS key (key spec ECC_NIST_P256, usage SIGN_VERIFY), algorithm
 * ECDSA_SHA_256: the private key never leaves KMS. Signatures are DER, base64: the same form as the
 * local signer's. Verify asks KMS too, and answers false (never throws) for a signature that does
 * not verify or a key id other than its own.
 */
export class KmsAuditSigner implements AuditSigner, AuditVerifier {
  constructor(private readonly kms: KMSClient, readonly keyId: string) {
    if (!keyId) throw new Error('KmsAuditSigner: keyId is empty');
  }

  async sign(message: Uint8Array): Promise<string> {
    const { Signature } = await this.kms.send(new SignCommand({ KeyId: this.keyId, Message: message, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' }));
    if (!Signature) throw new Error('KMS Sign returned no signature');
    return Buffer.from(Signature).toString('base64');
  }

  async verify(message: Uint8Array, signature: string, keyId: string): Promise<boolean> {
    if (keyId !== this.keyId) return false;
    const bytes = Buffer.from(signature, 'base64');
    if (bytes.length === 0) return false;
    try {
      const { SignatureValid } = await this.kms.send(
        new VerifyCommand({ KeyId: this.keyId, Message: message, MessageType: 'RAW', Signature: bytes, SigningAlgorithm: 'ECDSA_SHA_256' }),
      );
      return SignatureValid === true;
    } catch (error) {
      if (error instanceof KMSInvalidSignatureException) return false;
      throw error;
    }
  }
}
