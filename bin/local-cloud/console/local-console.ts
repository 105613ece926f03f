import { createLocalJWKSet } from 'jose';
import { createJwtVerifier } from '../../../lambdas/adapters/jwt-verifier';
import { agentStateStore, sqsClient, type AwsClientConfig } from '../../../lambdas/adapters/runtime';
import { ENV, type IssuerSettings } from '../../../lambdas/contracts';
import { CONSOLE_CLIENT_ID, localResourceOf, type IssuerKey } from '../identity-provider';
import type { LocalPlatform } from '../provision';
import { createConsole, type Console } from './console';
import { localPlatformViews } from './platform-views';

export type { Console } from './console';

/**
 * The console of `npm start` (LOCAL ONLY): tokens verified as the endpoint's authorizer verifies
 * them (the local issuer, its public key, the MCP resource as audience), the queues and agents
 * of the provisioned platform read through the emulators' SDK clients.
 */
export const createLocalConsole = (options: {
  baseUrl: string;
  issuerKey: IssuerKey;
  settings: IssuerSettings;
  platform: LocalPlatform;
  /** The emulators' clients: the console's reads are not the functions' calls (no trail, no meter). */
  aws: AwsClientConfig;
}): Console => {
  const { d: _private, ...publicJwk } = options.issuerKey.privateJwk;
  const keys = createLocalJWKSet({ keys: [publicJwk] });
  const mcpUrl = localResourceOf(options.baseUrl);
  const tasksTable = [...options.platform.functions.values()].map((fn) => fn.environment[ENV.tasksTable]).find(Boolean);
  if (!tasksTable) throw new Error(`no function of the templates has ${ENV.tasksTable}: the console cannot read the agents`);
  return createConsole({
    mcpUrl,
    issuer: options.settings.issuer,
    clientId: CONSOLE_CLIENT_ID,
    tenantClaim: options.settings.tenantClaim,
    rolesClaim: options.settings.rolesClaim,
    verify: createJwtVerifier({ resource: mcpUrl, issuers: [options.settings] }, () => keys),
    views: localPlatformViews({
      platform: options.platform,
      sqs: sqsClient(options.aws),
      sqsEndpoint: String(options.aws.sqs?.endpoint ?? ''),
      agentStates: agentStateStore(tasksTable, options.aws),
    }),
  });
};
