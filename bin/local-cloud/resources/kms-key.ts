import { createHash } from 'node:crypto';
import { localArn, physicalName, type ResourceHandler } from './resource-handler';

/**
 * `AWS::KMS::Key` → an identity only: the emulators do not encrypt, but the table, the queues and
 * the policies name the key, so its `Ref` (a key id), `Arn` and `KeyId` must resolve.
 */
export const kmsKey = {
  type: 'AWS::KMS::Key',
  identity: (ctx, { stackName, id }) => {
    const keyId = `local-${createHash('sha256').update(physicalName(stackName, id)).digest('hex').slice(0, 8)}`;
    return { ref: keyId, attributes: { Arn: localArn(ctx, 'kms', `key/${keyId}`), KeyId: keyId } };
  },
} satisfies ResourceHandler;
