import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, ResourceNotFoundException, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSecretStore, SecretsManagerSecretStore } from '../../lambdas/adapters/secrets';
import { SecretNotFoundError } from '../../lambdas/domain/connector-ports';

describe('FileSecretStore', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'secrets-'));
    path = join(dir, 'secrets.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the value stored under the name', async () => {
    writeFileSync(path, JSON.stringify({ 'crm-token': 'tok-1', other: 'x' }));

    expect(await new FileSecretStore(path).get('crm-token')).toBe('tok-1');
  });

  it('reads the file at each get, so an edit applies to the next one', async () => {
    const store = new FileSecretStore(path);
    writeFileSync(path, JSON.stringify({ 'crm-token': 'tok-1' }));
    await store.get('crm-token');

    writeFileSync(path, JSON.stringify({ 'crm-token': 'tok-2' }));

    expect(await store.get('crm-token')).toBe('tok-2');
  });

  it('refuses a name the file lacks with SecretNotFoundError naming the secret, not a value', async () => {
    writeFileSync(path, JSON.stringify({ 'crm-token': 'tok-1' }));

    const error = await new FileSecretStore(path).get('billing-token').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SecretNotFoundError);
    expect((error as Error).message).toContain('"billing-token"');
    expect((error as Error).message).not.toContain('tok-1');
    expect((error as Error).message).not.toContain('\n');
  });

  it('refuses every name when the file is missing, with SecretNotFoundError', async () => {
    const error = await new FileSecretStore(join(dir, 'absent.json')).get('crm-token').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SecretNotFoundError);
    expect((error as Error).message).toMatch(/^secret "crm-token" not found: there is no secrets file .*absent\.json$/);
  });

  it('does not let a prototype key pass for a secret', async () => {
    writeFileSync(path, '{}');

    await expect(new FileSecretStore(path).get('toString')).rejects.toBeInstanceOf(SecretNotFoundError);
  });

  it('says a broken file is not JSON without quoting it', async () => {
    writeFileSync(path, '{ "crm-token": "tok-1", oops }');

    const error = await new FileSecretStore(path).get('crm-token').catch((e: unknown) => e);

    expect((error as Error).message).toBe(`secret "crm-token": the secrets file ${path} is not valid JSON`);
  });

  it('refuses a value that is not a string without showing it', async () => {
    writeFileSync(path, JSON.stringify({ 'crm-token': { nested: 'tok-1' } }));

    const error = await new FileSecretStore(path).get('crm-token').catch((e: unknown) => e);

    expect((error as Error).message).toBe(`secret "crm-token" in ${path} is not a string`);
  });
});

describe('SecretsManagerSecretStore', () => {
  /** A client double that answers GetSecretValue from a map and counts the calls. */
  const fakeClient = (values: Record<string, string>) => {
    const calls: string[] = [];
    const client = {
      send: async (command: GetSecretValueCommand) => {
        const id = command.input.SecretId!;
        calls.push(id);
        if (!(id in values)) throw new ResourceNotFoundException({ message: 'Secrets Manager can not find the specified secret.', $metadata: {} });
        return { SecretString: values[id] };
      },
    };
    return { client: client as unknown as SecretsManagerClient, calls };
  };

  it('keeps a value for five minutes, then reads it again', async () => {
    let now = 0;
    const { client, calls } = fakeClient({ 'crm-token': 'tok-1' });
    const store = new SecretsManagerSecretStore(client, { now: () => now });

    await store.get('crm-token');
    now = 5 * 60_000 - 1;
    await store.get('crm-token');
    expect(calls).toHaveLength(1);

    now = 5 * 60_000;
    expect(await store.get('crm-token')).toBe('tok-1');
    expect(calls).toHaveLength(2);
  });

  it('maps ResourceNotFoundException to SecretNotFoundError and keeps no failure', async () => {
    const { client, calls } = fakeClient({});
    const store = new SecretsManagerSecretStore(client);

    await expect(store.get('crm-token')).rejects.toThrow(new SecretNotFoundError('secret "crm-token" not found in Secrets Manager'));
    await expect(store.get('crm-token')).rejects.toBeInstanceOf(SecretNotFoundError);
    expect(calls).toHaveLength(2);
  });
});
