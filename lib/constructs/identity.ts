import type { IKey } from 'aws-cdk-lib/aws-kms';
import { CfnResource, Duration, RemovalPolicy, SecretValue, Stack } from 'aws-cdk-lib';
import {
  AccountRecovery,
  ClientAttributes,
  FeaturePlan,
  LambdaVersion,
  Mfa,
  OAuthScope,
  ProviderAttribute,
  ResourceServerScope,
  StandardThreatProtectionMode,
  StringAttribute,
  UserPool,
  UserPoolClientIdentityProvider,
  UserPoolGroup,
  UserPoolIdentityProviderOidc,
  UserPoolIdentityProviderSaml,
  UserPoolIdentityProviderSamlMetadata,
  UserPoolOperation,
  type UserPoolClient,
  type IUserPoolIdentityProvider,
} from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import { COGNITO_ROLES_CLAIM, COGNITO_TENANT_ATTRIBUTE, COGNITO_TENANT_CLAIM, RESOURCE_SERVER_ID, ROLES, SCOPE_FAMILIES, type CognitoSettings, type IssuerSettings, type ScopeFamily } from '../../lambdas/contracts';
import { SwitchboardFunction } from './switchboard-function';

export interface IdentityProps {
  settings: CognitoSettings;
  removalPolicy: RemovalPolicy;
  /** The key the trigger's log group is encrypted with (the platform key); absent: CloudWatch Logs' own keys. */
  logEncryptionKey?: IKey;
}

/** The user pool's tenant attribute, without its `custom:` prefix (as CDK declares it). */
const TENANT_ATTRIBUTE = COGNITO_TENANT_ATTRIBUTE;
const FAMILIES = Object.keys(SCOPE_FAMILIES) as ScopeFamily[];
const ROLE_DESCRIPTIONS: Record<(typeof ROLES)[number], string> = {
  admin: 'Administers the tenant: every tenant tool, role grants, agent registration',
  operator: 'The platform\'s on-call: redrives dead letters across tenants',
  submitter: 'Submits, reads and cancels the tenant\'s tasks',
  approver: 'Decides workflow approval gates, reads the tenant\'s tasks',
  auditor: 'Reads the tenant\'s tasks and role grants',
  viewer: 'Reads the tenant\'s tasks',
  agent: 'External agent: claims and completes the tenant\'s tasks of pull capabilities',
};

/**
 * Cognito as the identity provider: a user pool (no self sign-up, TOTP MFA required, Plus feature
 * plan with threat protection enforced, strong passwords, deletion protection when retained), the
 * tenant as attribute `custom:tenant_id`, one group per Switchboard role, a resource server with
 * one scope per tool family, the hosted domain, an app client per machine agent (client
 * credentials only, with a secret, its own scopes, short-lived tokens) and a public client for
 * people (authorization code + PKCE), optionally federated to an enterprise IdP (OIDC or SAML).
 * A pre token generation trigger (V2_0) puts the user's tenant and roles in the access token.
 * `issuer` is what the authorizer trusts (client_id as audience: Cognito access tokens carry no aud).
 */
export class Identity extends Construct {
  readonly userPool: UserPool;
  readonly machineClients: ReadonlyMap<string, UserPoolClient>;
  readonly peopleClient: UserPoolClient;
  readonly preToken: SwitchboardFunction;
  /** `https://cognito-idp.<region>.amazonaws.com/<pool id>`: the tokens' `iss`. */
  readonly issuerUrl: string;
  readonly issuer: IssuerSettings;

  constructor(scope: Construct, id: string, props: IdentityProps) {
    super(scope, id);
    const { settings } = props;
    validate(id, settings);
    const retained = props.removalPolicy === RemovalPolicy.RETAIN;
    const federated = settings.federation !== undefined;

    this.userPool = new UserPool(this, 'UserPool', {
      selfSignUpEnabled: false,
      signInAliases: { username: true, email: true },
      signInCaseSensitive: false,
      mfa: Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      featurePlan: FeaturePlan.PLUS,
      standardThreatProtectionMode: StandardThreatProtectionMode.FULL_FUNCTION,
      passwordPolicy: {
        minLength: 14,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
        passwordHistorySize: 12,
      },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      // Immutable: no one re-homes a user to another tenant. A federated IdP's mapping rewrites it at
      // every sign-in, which Cognito refuses for an immutable attribute: mutable then, but no app
      // client may write it (writeAttributes below), so only the IdP and administrators set it.
      customAttributes: { [TENANT_ATTRIBUTE]: new StringAttribute({ minLen: 1, maxLen: 63, mutable: federated }) },
      deletionProtection: retained,
      removalPolicy: props.removalPolicy,
    });
    (this.userPool.node.defaultChild as CfnResource).overrideLogicalId('UserPool');

    for (const role of ROLES) {
      new UserPoolGroup(this, `Group-${role}`, { userPool: this.userPool, groupName: role, description: ROLE_DESCRIPTIONS[role] });
    }

    const scopes = Object.fromEntries(
      FAMILIES.map((family) => [family, new ResourceServerScope({ scopeName: family, scopeDescription: SCOPE_FAMILIES[family] })]),
    ) as Record<ScopeFamily, ResourceServerScope>;
    const resourceServer = this.userPool.addResourceServer('ResourceServer', {
      identifier: RESOURCE_SERVER_ID,
      userPoolResourceServerName: 'Switchboard MCP endpoint',
      scopes: Object.values(scopes),
    });
    const oauthScope = (family: ScopeFamily) => OAuthScope.resourceServer(resourceServer, scopes[family]);

    this.userPool.addDomain('Domain', { cognitoDomain: { domainPrefix: settings.domainPrefix } });

    const federation = settings.federation && this.federation(settings.federation);
    const readable = new ClientAttributes().withStandardAttributes({ email: true, emailVerified: true, fullname: true }).withCustomAttributes(TENANT_ATTRIBUTE);
    const writable = new ClientAttributes().withStandardAttributes({ fullname: true });

    const machineClients = new Map<string, UserPoolClient>();
    for (const machine of settings.machineClients) {
      machineClients.set(
        machine.name,
        this.userPool.addClient(`Machine-${machine.name}`, {
          userPoolClientName: machine.name,
          generateSecret: true,
          authFlows: {},
          oAuth: { flows: { clientCredentials: true }, scopes: (machine.scopes ?? FAMILIES).map(oauthScope) },
          accessTokenValidity: Duration.minutes(15),
          enableTokenRevocation: true,
          preventUserExistenceErrors: true,
          readAttributes: new ClientAttributes(),
          writeAttributes: new ClientAttributes(),
        }),
      );
    }
    this.machineClients = machineClients;

    this.peopleClient = this.userPool.addClient('People', {
      userPoolClientName: 'people',
      generateSecret: false, // public: authorization code with PKCE
      authFlows: {},
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [OAuthScope.OPENID, OAuthScope.EMAIL, OAuthScope.PROFILE, ...FAMILIES.map(oauthScope)],
        callbackUrls: settings.callbackUrls,
      },
      supportedIdentityProviders: [UserPoolClientIdentityProvider.COGNITO, ...(federation ? [UserPoolClientIdentityProvider.custom(federation.providerName)] : [])],
      accessTokenValidity: Duration.minutes(60),
      idTokenValidity: Duration.minutes(60),
      refreshTokenValidity: Duration.hours(12),
      enableTokenRevocation: true,
      preventUserExistenceErrors: true,
      readAttributes: readable,
      writeAttributes: writable,
    });
    if (federation) this.peopleClient.node.addDependency(federation);

    this.preToken = new SwitchboardFunction(this, 'PreToken', {
      entry: 'lambdas/identity/pre-token.ts',
      description: 'Cognito pre token generation (V2_0): the user\'s tenant and roles into the access token',
      timeout: Duration.seconds(5),
      memorySize: 256,
      removalPolicy: props.removalPolicy,
      ...(props.logEncryptionKey ? { logEncryptionKey: props.logEncryptionKey } : {}),
    });
    this.userPool.addTrigger(UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG, this.preToken, LambdaVersion.V2_0);

    const stack = Stack.of(this);
    this.issuerUrl = `https://cognito-idp.${stack.region}.${stack.urlSuffix}/${this.userPool.userPoolId}`;
    this.issuer = {
      issuer: this.issuerUrl,
      jwksUri: `${this.issuerUrl}/.well-known/jwks.json`,
      audienceClaim: 'client_id',
      audiences: [this.peopleClient.userPoolClientId, ...[...machineClients.values()].map((client) => client.userPoolClientId)],
      tenantClaim: COGNITO_TENANT_CLAIM,
      rolesClaim: COGNITO_ROLES_CLAIM,
      scopeClaim: 'scope',
      ...(settings.machineClients.length
        ? {
            clients: Object.fromEntries(
              settings.machineClients.map((m) => [machineClients.get(m.name)!.userPoolClientId, { tenant: m.tenant, roles: [...m.roles] }]),
            ),
          }
        : {}),
    };
  }

  private federation(federation: NonNullable<CognitoSettings['federation']>): IUserPoolIdentityProvider {
    if (federation.type === 'oidc') {
      return new UserPoolIdentityProviderOidc(this, 'Federation', {
        userPool: this.userPool,
        name: federation.name,
        clientId: federation.clientId,
        // A dynamic reference resolved by CloudFormation at deploy time: the secret never enters the template.
        clientSecret: SecretValue.secretsManager(federation.clientSecretName).unsafeUnwrap(),
        issuerUrl: federation.issuer,
        scopes: ['openid', 'email', 'profile'],
        attributeMapping: { email: ProviderAttribute.other('email'), custom: { [`custom:${TENANT_ATTRIBUTE}`]: ProviderAttribute.other(federation.tenantClaim) } },
      });
    }
    return new UserPoolIdentityProviderSaml(this, 'Federation', {
      userPool: this.userPool,
      name: federation.name,
      metadata: UserPoolIdentityProviderSamlMetadata.url(federation.metadataUrl),
      attributeMapping: { custom: { [`custom:${TENANT_ATTRIBUTE}`]: ProviderAttribute.other(federation.tenantAttribute) } },
    });
  }
}

/** Throws on settings the pool cannot honour, naming the client and the rule. */
const validate = (id: string, settings: CognitoSettings): void => {
  const names = new Set<string>();
  for (const machine of settings.machineClients) {
    if (names.has(machine.name)) throw new Error(`Identity ${id}: machine client ${machine.name} is defined twice`);
    names.add(machine.name);
    const unknown = machine.roles.filter((role) => !(ROLES as readonly string[]).includes(role));
    if (unknown.length) throw new Error(`Identity ${id}: machine client ${machine.name} has roles ${unknown.join(', ')}, which are not roles (${ROLES.join(', ')})`);
  }
  if (settings.callbackUrls.length === 0) throw new Error(`Identity ${id}: the people client needs at least one callbackUrl`);
  for (const url of settings.callbackUrls) {
    const { protocol, hostname } = new URL(url);
    const loopback = hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]';
    if (protocol !== 'https:' && !(protocol === 'http:' && loopback)) {
      throw new Error(`Identity ${id}: callbackUrl ${url} must be https (http only on localhost)`);
    }
  }
};
