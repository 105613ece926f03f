/**
 * What connectors (agents that call something outside: a downstream MCP server, an HTTP API, a
 * model) need from the platform. Secrets never live in config, logs or task records: a connector
 * names a secret, the store gives its value at the moment of the call.
 */
export interface SecretStore {
  /** The secret's value; throws SecretNotFoundError when the store has none by that name. */
  get(name: string): Promise<string>;
}

export class SecretNotFoundError extends Error {
  override name = 'SecretNotFoundError';
}

/** An agent a connector could not offer (a downstream tool whose schema is unusable, say), with the reason. */
export interface DisabledCapability {
  capability: string;
  reason: string;
}
