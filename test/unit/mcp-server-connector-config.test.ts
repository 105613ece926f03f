import { describe, expect, it } from 'vitest';
import { McpServerConnectorConfigSchema } from '../../lambdas/contracts/connectors-mcp';

const messagesOf = (input: unknown) => {
  const parsed = McpServerConnectorConfigSchema.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
};

describe('McpServerConnectorConfigSchema', () => {
  it('fills in the defaults: a 15 s timeout, the authorization header', () => {
    const config = McpServerConnectorConfigSchema.parse({ name: 'crm', url: 'https://crm.example.com/mcp', secret: { name: 'crm-token', scheme: 'Bearer' } });

    expect(config).toEqual({ name: 'crm', url: 'https://crm.example.com/mcp', secret: { name: 'crm-token', header: 'authorization', scheme: 'Bearer' }, timeoutMs: 15_000 });
  });

  it('takes http only to a loopback host', () => {
    expect(messagesOf({ name: 'crm', url: 'http://127.0.0.1:3001/mcp' })).toEqual([]);
    expect(messagesOf({ name: 'crm', url: 'http://crm.example.com/mcp' })).toEqual(['url: https, or http to localhost']);
  });

  it('refuses credentials in the URL', () => {
    expect(messagesOf({ name: 'crm', url: 'https://user:pw@crm.example.com/mcp' })).toEqual(['url: no credentials in the URL: name a secret instead']);
  });

  it('refuses a namespace that is not lower-case letters, digits and -', () => {
    expect(messagesOf({ name: 'CRM.v2', url: 'https://crm.example.com/mcp' })).toEqual(['name: lower-case letters, digits and -, starting with a letter']);
  });

  it('refuses a header the MCP transport sets itself, and keys it does not know', () => {
    expect(messagesOf({ name: 'crm', url: 'https://crm.example.com/mcp', secret: { name: 's', header: 'mcp-session-id' } })).toEqual([
      'secret.header: a header the MCP transport sets itself',
    ]);
    expect(messagesOf({ name: 'crm', url: 'https://crm.example.com/mcp', token: 'x' })).toEqual([': Unrecognized key: "token"']);
  });
});
