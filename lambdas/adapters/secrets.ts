import { readFile } from 'node:fs/promises';
import { GetSecretValueCommand, ResourceNotFoundException, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretNotFoundError, type SecretStore } from '../domain/connector-ports';

/**
 * Secrets from a local JSON file `{ "<name>": "<value>" }` (the local cloud, tests). The file is
 * read at each get, so an edit applies to the next call. Errors name the secret and the file,
 * never a value: a parse error's own message would quote the file, so it is not passed on.
 */
export class FileSecretStore implements SecretStore {
  constructor(private readonly path: string) {}

  async get(name: string): Promise<string> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new SecretNotFoundError(`secret "${name}" not found: there is no secrets file ${this.path}`);
      throw new Error(`secret "${name}": the secrets file ${this.path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`);
    }
    let secrets: unknown;
    try {
      secrets = JSON.parse(text);
    } catch {
      throw new Error(`secret "${name}": the secrets file ${this.path} is not valid JSON`);
    }
    if (typeof secrets !== 'object' || secrets === null || Array.isArray(secrets)) {
      throw new Error(`secret "${name}": the secrets file ${this.path} is not a JSON object of names to values`);
    }
    if (!Object.hasOwn(secrets, name)) throw new SecretNotFoundError(`secret "${name}" not found in ${this.path}`);
    const value = (secrets as Record<string, unknown>)[name];
    if (typeof value !== 'string') throw new Error(`secret "${name}" in ${this.path} is not a string`);
    return value;
  }
}

export interface SecretsManagerSecretStoreOptions {
  /** How long a value is kept before it is read again; default 5 minutes (a rotation applies within it). */
  ttlMs?: number;
  now?: () => number;
}

/**
 * Secrets from AWS Secrets Manager (`GetSecretValue`, the secret's name or ARN), each kept for
 * five minutes per container so a busy worker does not call the service per task. Concurrent gets
 * of one secret share one call; a failed call is not kept.
 */
export class SecretsManagerSecretStore implements SecretStore {
  private readonly cache = new Map<string, { value: Promise<string>; expiresAt: number }>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly client: SecretsManagerClient,
    options: SecretsManagerSecretStoreOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
  }

  get(name: string): Promise<string> {
    const cached = this.cache.get(name);
    if (cached && cached.expiresAt > this.now()) return cached.value;
    const value = this.fetch(name);
    this.cache.set(name, { value, expiresAt: this.now() + this.ttlMs });
    value.catch(() => {
      if (this.cache.get(name)?.value === value) this.cache.delete(name);
    });
    return value;
  }

  private async fetch(name: string): Promise<string> {
    try {
      const output = await this.client.send(new GetSecretValueCommand({ SecretId: name }));
      if (output.SecretString !== undefined) return output.SecretString;
      if (output.SecretBinary !== undefined) return Buffer.from(output.SecretBinary).toString('utf8');
      throw new Error(`secret "${name}" has no value`);
    } catch (error) {
      if (error instanceof ResourceNotFoundException || (error as Error).name === 'ResourceNotFoundException') {
        throw new SecretNotFoundError(`secret "${name}" not found in Secrets Manager`);
      }
      throw error;
    }
  }
}
