import { OpenedValueCache } from '../../lambdas/domain/envelope';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsEnvelope } from '../../lambdas/adapters/kms-envelope';
import { LocalEnvelope } from '../../lambdas/adapters/local-envelope';
import { envelopeSettings, taskSealing, type AwsClientConfig } from '../../lambdas/adapters/runtime';
import { tenantDataRepositories } from '../../lambdas/adapters/tenant-credentials';
import { ClassificationSettingsSchema } from '../../lambdas/contracts/classification';
import { randomTaskId } from '../../lambdas/domain/ids';
import type { Task } from '../../lambdas/domain/task';
import { startLocalSts, type LocalSts } from '../../bin/local-cloud/sts';

/**
 * The composition of the envelope: which adapter the variables select, and that the gateway's KMS
 * calls go out on each tenant's session of the tenant-scoped role (the local STS stand-in, and a
 * loopback server in KMS's place that records each request's signature and context).
 */
const classifications = ClassificationSettingsSchema.parse({ levels: ['internal', 'restricted'], default: 'internal', capabilities: { vault: 'restricted' } });
const KEY_ARN = 'arn:aws:kms:us-east-1:000000000000:key/11111111-2222-3333-4444-555555555555';
const OWN = { accessKeyId: 'AKIAFUNCTIONOWNROLE0', secretAccessKey: 'own-secret' };

interface KmsRequest {
  accessKeyId: string;
  securityToken: string | undefined;
  target: string;
  context: Record<string, string>;
}
let sts: LocalSts;
let kms: Server;
let kmsUrl: string;
const kmsRequests: KmsRequest[] = [];
beforeAll(async () => {
  sts = await startLocalSts({ accountId: '000000000000' });
  kms = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { EncryptionContext?: Record<string, string> };
      kmsRequests.push({
        accessKeyId: /Credential=([^/]+)\//.exec(String(req.headers.authorization))?.[1] ?? '',
        securityToken: req.headers['x-amz-security-token'] as string | undefined,
        target: String(req.headers['x-amz-target']),
        context: body.EncryptionContext ?? {},
      });
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ __type: 'AccessDeniedException', message: 'recorded, not served' }));
    });
  });
  await new Promise<void>((resolve) => kms.listen(0, '127.0.0.1', resolve));
  kmsUrl = `http://127.0.0.1:${(kms.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await sts?.stop();
  await new Promise((resolve) => kms?.close(resolve));
});

const sensitiveTask = (tenantId: string): Task => ({
  tenantId, taskId: randomTaskId(), capability: 'vault', input: { secret: 1 }, priority: 'normal', status: 'queued', version: 0, attempts: 0,
  requestHash: 'h', submittedBy: 'u', dispatchPending: true, createdAt: '2026-11-26T10:00:00.000Z', updatedAt: '2026-11-26T10:00:00.000Z',
});

describe('envelope composition', () => {
  it('seals nothing without CLASSIFICATIONS, uses the local key file when ENVELOPE_KEY_FILE is set, else KMS on the data keys', () => {
    const keyFile = join(mkdtempSync(join(tmpdir(), 'envelope-')), 'keys', 'envelope.key');

    expect(envelopeSettings(undefined, { DATA_KEY_ARN_RESTRICTED: KEY_ARN })).toBeUndefined();
    // Each behind a cache of the values it opened (a poll of a sensitive task opens it once a minute).
    const local = taskSealing(envelopeSettings(classifications, { ENVELOPE_KEY_FILE: keyFile }), {})?.envelope;
    expect(local).toBeInstanceOf(OpenedValueCache);
    expect((local as OpenedValueCache).inner).toBeInstanceOf(LocalEnvelope);
    const kmsSettings = envelopeSettings(classifications, { DATA_KEY_ARN_RESTRICTED: KEY_ARN, DATA_KEY_ARN_OTHER: KEY_ARN });
    expect(kmsSettings?.keys).toEqual({ restricted: KEY_ARN });
    expect((taskSealing(kmsSettings, {})?.envelope as OpenedValueCache).inner).toBeInstanceOf(KmsEnvelope);
  });

  it('refuses a data key variable that is no KMS key ARN, naming it', () => {
    expect(() => envelopeSettings(classifications, { DATA_KEY_ARN_RESTRICTED: 'not-an-arn' })).toThrow('invalid configuration: DATA_KEY_ARN_RESTRICTED (a KMS key ARN)');
  });

  it('calls KMS for the gateway on each tenant\'s session of the tenant-scoped role, never on the function\'s own credentials', async () => {
    const aws: AwsClientConfig = {
      sts: { endpoint: sts.endpoint, region: 'us-east-1', credentials: OWN },
      kms: { endpoint: kmsUrl, region: 'us-east-1', credentials: OWN, maxAttempts: 1 },
      dynamodb: { endpoint: 'http://127.0.0.1:9', region: 'us-east-1', credentials: OWN, maxAttempts: 1 },
    };
    const tenantData = tenantDataRepositories(
      { tableName: 'tasks', roleArn: 'arn:aws:iam::000000000000:role/tenant-scoped', workflows: false, envelope: envelopeSettings(classifications, { DATA_KEY_ARN_RESTRICTED: KEY_ARN })! },
      aws,
    );

    for (const tenant of ['acme', 'globex', 'acme']) {
      await expect(tenantData(tenant).tasks.create(sensitiveTask(tenant))).rejects.toThrow('recorded, not served');
    }

    expect(kmsRequests.map((r) => [r.target, r.context['tenant']])).toEqual([
      ['TrentService.GenerateDataKey', 'acme'],
      ['TrentService.GenerateDataKey', 'globex'],
      ['TrentService.GenerateDataKey', 'acme'],
    ]);
    const [acme, globex, acmeAgain] = kmsRequests;
    expect(kmsRequests.map((r) => r.accessKeyId)).not.toContain(OWN.accessKeyId);
    expect(kmsRequests.every((r) => r.securityToken)).toBe(true);
    expect(acme!.accessKeyId).not.toBe(globex!.accessKeyId);
    expect(acmeAgain!.accessKeyId).toBe(acme!.accessKeyId);
    expect(sts.sessions().map((s) => s.tags)).toEqual([{ tenant: 'acme' }, { tenant: 'globex' }]);
  });
});
