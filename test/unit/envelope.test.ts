import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { KmsEnvelope, dataKeysFromEnv } from '../../lambdas/adapters/kms-envelope';
import { LocalEnvelope } from '../../lambdas/adapters/local-envelope';
import { ClassificationSettingsSchema, classificationOf, dataKeyEnvName, isSensitive } from '../../lambdas/contracts/classification';
import { EnvelopeContextError, EnvelopeOpenError, OpenedValueCache, OpenedValues, type Envelope, type EnvelopeContext } from '../../lambdas/domain/envelope';
import { parseConfig } from '../../lib/config';
import { readCdkContext } from '../../bin/local-cloud/synth';

const A: EnvelopeContext = { tenant: 'acme', task: 'task-1', classification: 'confidential' };
const text = (s: string) => new TextEncoder().encode(s);
const SECRET = text('{"patient":"Jane Doe","diagnosis":"confidential"}');

/**
 * A stand-in for KMS: wraps data keys with one AES-GCM master key. With `honourContext` it binds
 * the encryption context like KMS does; without it, it ignores the context (a key policy or KMS
 * that fails open), to show the AES-GCM additional data still keeps tenants apart.
 */
const fakeKms = (honourContext: boolean) => {
  const master = randomBytes(32);
  const calls: { name: string; input: Record<string, unknown> }[] = [];
  const ctxBytes = (ctx: unknown) => Buffer.from(honourContext ? JSON.stringify(ctx) : '');
  const send = async (command: GenerateDataKeyCommand | DecryptCommand) => {
    calls.push({ name: command.constructor.name, input: command.input as Record<string, unknown> });
    if (command instanceof GenerateDataKeyCommand) {
      const key = randomBytes(32);
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', master, iv);
      c.setAAD(Buffer.concat([Buffer.from(String(command.input.KeyId)), ctxBytes(command.input.EncryptionContext)]));
      const blob = Buffer.concat([iv, c.update(key), c.final(), c.getAuthTag()]);
      return { Plaintext: new Uint8Array(key), CiphertextBlob: new Uint8Array(blob) };
    }
    const blob = Buffer.from(command.input.CiphertextBlob!);
    try {
      const d = createDecipheriv('aes-256-gcm', master, blob.subarray(0, 12));
      d.setAAD(Buffer.concat([Buffer.from(String(command.input.KeyId)), ctxBytes(command.input.EncryptionContext)]));
      d.setAuthTag(blob.subarray(blob.length - 16));
      return { Plaintext: new Uint8Array(Buffer.concat([d.update(blob.subarray(12, blob.length - 16)), d.final()])) };
    } catch {
      throw Object.assign(new Error('invalid ciphertext'), { name: 'InvalidCiphertextException' });
    }
  };
  return { client: { send } as unknown as KMSClient, calls };
};

const KEYS = { internal: 'arn:aws:kms:us-east-1:111111111111:key/i', confidential: 'arn:aws:kms:us-east-1:111111111111:key/c', restricted: 'arn:aws:kms:us-east-1:111111111111:key/r' };
const LEVELS = Object.keys(KEYS);

const adapters: [string, () => Envelope][] = [
  ['LocalEnvelope', () => LocalEnvelope.fromKey(randomBytes(32), LEVELS)],
  ['KmsEnvelope (KMS binding the context)', () => new KmsEnvelope(fakeKms(true).client, KEYS)],
  ['KmsEnvelope (KMS ignoring the context: AES-GCM AAD alone)', () => new KmsEnvelope(fakeKms(false).client, KEYS)],
  // The cache keeps every property of what it wraps (even over a KMS that ignores the context).
  ['OpenedValueCache over KmsEnvelope (KMS ignoring the context)', () => new OpenedValueCache(new KmsEnvelope(fakeKms(false).client, KEYS))],
];

describe.each(adapters)('%s', (_name, make) => {
  it('opens what it sealed, with the same context, and the blob does not hold the plaintext', async () => {
    const envelope = make();
    const sealed = await envelope.seal(SECRET, A);

    expect(Buffer.from(sealed).includes(Buffer.from('Jane Doe'))).toBe(false);
    expect(sealed[0]).toBe(1);
    expect(await envelope.open(sealed, A)).toEqual(SECRET);
  });

  it.each([
    ['tenant B', { ...A, tenant: 'globex' }],
    ['another task', { ...A, task: 'task-2' }],
    ['another level', { ...A, classification: 'restricted' }],
  ])('refuses to open tenant A\'s ciphertext with the context of %s (EnvelopeOpenError, nothing leaked)', async (_what, other) => {
    const envelope = make();
    const sealed = await envelope.seal(SECRET, A);

    const error = await envelope.open(sealed, other).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(EnvelopeOpenError);
    expect((error as Error).message).toBe('the sealed data cannot be opened with this context');
  });

  it('refuses a blob with any single byte altered (version, wrapped key, IV, ciphertext, tag) or truncated', async () => {
    const envelope = make();
    const sealed = await envelope.seal(SECRET, A);
    const n = (sealed[1]! << 8) | sealed[2]!;
    const positions = { version: 0, wrappedKey: 3 + Math.floor(n / 2), iv: 3 + n + 5, ciphertext: 3 + n + 12 + 3, tag: sealed.length - 1 };

    for (const [part, at] of Object.entries(positions)) {
      const tampered = Uint8Array.from(sealed);
      tampered[at]! ^= 0x01;
      await expect(envelope.open(tampered, A), part).rejects.toBeInstanceOf(EnvelopeOpenError);
    }
    await expect(envelope.open(sealed.subarray(0, sealed.length - 1), A)).rejects.toBeInstanceOf(EnvelopeOpenError);
    await expect(envelope.open(new Uint8Array(0), A)).rejects.toBeInstanceOf(EnvelopeOpenError);
  });

  it('seals the same plaintext twice into different blobs (a fresh data key and IV each time)', async () => {
    const envelope = make();
    const [one, two] = [await envelope.seal(SECRET, A), await envelope.seal(SECRET, A)];

    expect(Buffer.from(one).equals(Buffer.from(two))).toBe(false);
  });

  it('refuses a context with an empty or missing field, or an unknown level, before sealing', async () => {
    const envelope = make();

    await expect(envelope.seal(SECRET, { ...A, tenant: '' })).rejects.toBeInstanceOf(EnvelopeContextError);
    await expect(envelope.seal(SECRET, { tenant: 'acme', classification: 'confidential' } as EnvelopeContext)).rejects.toBeInstanceOf(EnvelopeContextError);
    await expect(envelope.seal(SECRET, { ...A, classification: 'top-secret' })).rejects.toThrow('no data key for classification "top-secret"');
  });
});

describe('OpenedValueCache', () => {
  const setup = (options: { maxAgeMs?: number; maxBytes?: number } = {}) => {
    const kms = fakeKms(true);
    let now = 0;
    const values = new OpenedValues({ maxAgeMs: options.maxAgeMs ?? 60_000, maxBytes: options.maxBytes ?? 1 << 20, now: () => now });
    const cache = new OpenedValueCache(new KmsEnvelope(kms.client, KEYS), values);
    const decrypts = () => kms.calls.filter((call) => call.name === 'DecryptCommand').length;
    return { cache, values, kms, decrypts, advance: (ms: number) => (now += ms) };
  };

  it('opens a value read again with the same context without asking KMS, until maxAgeMs', async () => {
    const { cache, decrypts, advance } = setup();
    const sealed = await cache.seal(SECRET, A);
    expect(await cache.open(sealed, A)).toEqual(SECRET);
    expect(await cache.open(sealed, A)).toEqual(SECRET);
    expect(decrypts()).toBe(1);
    advance(60_000);
    expect(await cache.open(sealed, A)).toEqual(SECRET);
    expect(decrypts()).toBe(2);
  });

  it('never answers another context or an altered blob from what it keeps', async () => {
    const { cache, decrypts } = setup();
    const sealed = await cache.seal(SECRET, A);
    await cache.open(sealed, A);
    for (const other of [{ ...A, tenant: 'globex' }, { ...A, task: 'task-2' }, { ...A, classification: 'restricted' }]) {
      await expect(cache.open(sealed, other)).rejects.toThrow(EnvelopeOpenError);
    }
    const altered = sealed.slice();
    altered[altered.length - 1]! ^= 1;
    await expect(cache.open(altered, A)).rejects.toThrow(EnvelopeOpenError);
    expect(decrypts()).toBe(1 + 3 + 1);
    // A caller changing what it got changes nothing kept.
    const first = await cache.open(sealed, A);
    first.fill(0);
    expect(await cache.open(sealed, A)).toEqual(SECRET);
  });

  it('keeps at most maxBytes, the oldest going first, for every envelope sharing the budget', async () => {
    const { cache, values, kms, decrypts } = setup({ maxBytes: SECRET.length * 2 });
    // Another tenant session's envelope on the same budget: its value counts against the same bytes.
    const other = new OpenedValueCache(new KmsEnvelope(kms.client, KEYS), values);
    await other.open(await other.seal(SECRET, { ...A, tenant: 'globex' }), { ...A, tenant: 'globex' });
    const blobs = await Promise.all([1, 2, 3].map((n) => cache.seal(SECRET, { ...A, task: `task-${n}` })));
    for (const [i, blob] of blobs.entries()) await cache.open(blob, { ...A, task: `task-${i + 1}` });
    expect(values.size).toBe(2);
    await cache.open(blobs[2]!, { ...A, task: 'task-3' });
    expect(decrypts()).toBe(4);
    await cache.open(blobs[0]!, { ...A, task: 'task-1' });
    expect(decrypts()).toBe(5);
  });
});

describe('KmsEnvelope', () => {
  it('asks KMS for an AES-256 data key under the level\'s key with {tenant, task, classification} as the encryption context, and decrypts with the same', async () => {
    const kms = fakeKms(true);
    const envelope = new KmsEnvelope(kms.client, KEYS);

    await envelope.open(await envelope.seal(SECRET, A), A);

    const context = { tenant: 'acme', task: 'task-1', classification: 'confidential' };
    expect(kms.calls[0]).toEqual({ name: 'GenerateDataKeyCommand', input: { KeyId: KEYS.confidential, KeySpec: 'AES_256', EncryptionContext: context } });
    expect(kms.calls[1]).toMatchObject({ name: 'DecryptCommand', input: { KeyId: KEYS.confidential, EncryptionContext: context } });
  });

  it('lets a KMS outage through as is (not as a bad ciphertext)', async () => {
    const down = { send: async () => Promise.reject(Object.assign(new Error('throttled'), { name: 'ThrottlingException' })) } as unknown as KMSClient;

    await expect(new KmsEnvelope(down, KEYS).seal(SECRET, A)).rejects.toThrow('throttled');
  });

  it('reads the level\'s key ARNs from DATA_KEY_ARN_<LEVEL>', () => {
    expect(dataKeysFromEnv({ [dataKeyEnvName('confidential')]: KEYS.confidential, OTHER: 'x' }, LEVELS)).toEqual({ confidential: KEYS.confidential });
    expect(dataKeyEnvName('restricted')).toBe('DATA_KEY_ARN_RESTRICTED');
  });
});

describe('LocalEnvelope key file', () => {
  it('creates the key file (owner-only) when missing and reads the same key back, so a restart still opens old blobs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'envelope-'));
    try {
      const path = join(dir, 'keys', 'envelope.key');
      const sealed = await LocalEnvelope.fromKeyFile(path).seal(SECRET, A);

      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64')).toHaveLength(32);
      expect(await LocalEnvelope.fromKeyFile(path).open(sealed, A)).toEqual(SECRET);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cannot open a blob sealed under another key file', async () => {
    const sealed = await LocalEnvelope.fromKey(randomBytes(32)).seal(SECRET, A);

    await expect(LocalEnvelope.fromKey(randomBytes(32)).open(sealed, A)).rejects.toBeInstanceOf(EnvelopeOpenError);
  });
});

describe('classifications config', () => {
  const base = parseConfig(readCdkContext()['switchboard']);

  it('defaults to internal, confidential, restricted: the two upper ones sensitive and multi-region', () => {
    expect(base.classifications).toEqual({
      levels: ['internal', 'confidential', 'restricted'],
      default: 'internal',
      sensitive: ['confidential', 'restricted'],
      multiRegion: ['confidential', 'restricted'],
      capabilities: {},
    });
  });

  it('gives a capability its listed level, else the default, and says which levels are sensitive', () => {
    const settings = ClassificationSettingsSchema.parse({ levels: ['public', 'pii'], default: 'public', capabilities: { 'crm.lookup': 'pii' } });

    expect(classificationOf(settings, 'crm.lookup')).toBe('pii');
    expect(classificationOf(settings, 'echo')).toBe('public');
    expect(isSensitive(settings, 'pii')).toBe(true);
    expect(isSensitive(settings, 'public')).toBe(false);
  });

  it('refuses a level that is not declared, naming the key', () => {
    const raw = readCdkContext()['switchboard'] as Record<string, unknown>;

    expect(() => parseConfig({ ...raw, classifications: { levels: ['internal'], default: 'internal', capabilities: { echo: 'secret' } } })).toThrow(
      'switchboard.classifications.capabilities.echo: "secret" is not one of the levels (internal)',
    );
    expect(() => parseConfig({ ...raw, classifications: { levels: ['internal', 'internal'], default: 'internal' } })).toThrow('switchboard.classifications.levels: levels must be unique');
    expect(() => parseConfig({ ...raw, classifications: { levels: ['Internal'], default: 'Internal' } })).toThrow('switchboard.classifications.levels.0');
  });
});
