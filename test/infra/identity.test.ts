import { flat } from './template-values';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config';
import { readCdkContext } from '../../bin/local-cloud/synth';
import { buildSwitchboard, type SwitchboardApp } from '../../lib/switchboard-app';
import { IdentityStack } from '../../lib/stacks/identity-stack';
import { CognitoSettingsSchema, ENV, RESOURCE_SERVER_ID, SCOPE_FAMILIES, type CognitoSettings } from '../../lambdas/contracts';
import { ROLES } from '../../lambdas/domain/principal';

const context = readCdkContext();
const config = parseConfig(context['switchboard']);
const FAMILIES = Object.keys(SCOPE_FAMILIES);

type Resource = { Type: string; Properties: Record<string, any>; DeletionPolicy?: string; Metadata?: Record<string, unknown> };
type Statement = { Action: string | string[]; Effect: string; Resource: unknown; Condition?: Record<string, Record<string, unknown>> };


const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

/** Every statement of every inline policy attached to the role `roleId` of the template. */
const statementsOf = (template: Template, roleId: string): Statement[] =>
  Object.values(template.findResources('AWS::IAM::Policy') as Record<string, Resource>)
    .filter((policy) => (policy.Properties['Roles'] as { Ref: string }[]).some((role) => role.Ref === roleId))
    .flatMap((policy) => policy.Properties['PolicyDocument'].Statement as Statement[]);

/** The logical id of the role of the function whose description matches. */
const roleOfFunction = (template: Template, description: RegExp): string => {
  const fn = Object.values(template.findResources('AWS::Lambda::Function') as Record<string, Resource>).find((f) => description.test(String(f.Properties['Description'])));
  if (!fn) throw new Error(`no function described ${description}`);
  return (fn.Properties['Role'] as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;
};

const nagFindings = (stack: Stack) =>
  [
    ...Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ...Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
  ].map((f) => `${f.id}: ${String(f.entry.data).slice(0, 160)}`);

/** An Identity stack alone (fast): the given Cognito settings, retained or not. */
const identityOf = (cognito: Partial<CognitoSettings> & { domainPrefix: string }, removalPolicy = RemovalPolicy.RETAIN) => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new IdentityStack(app, 'Identity', { env: { region: 'eu-west-1' }, cognito: CognitoSettingsSchema.parse(cognito), removalPolicy });
  return { stack, template: Template.fromStack(stack) };
};

const SETTINGS = {
  domainPrefix: 'switchboard-test',
  machineClients: [
    { name: 'acme-agents', tenant: 'acme', roles: ['agent'], scopes: ['agents'] },
    { name: 'globex-ops', tenant: 'globex', roles: ['submitter', 'viewer'] },
  ],
  callbackUrls: ['https://app.example.com/callback', 'http://localhost:6274/oauth/callback'],
} as const;

describe('Identity: the trigger\'s logs', () => {
  it('are encrypted with the platform key when given one (the app passes the Stateful stack\'s)', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const keys = new Stack(app, 'Keys', { env: { region: 'eu-west-1' } });
    const key = new Key(keys, 'PlatformKey');
    const stack = new IdentityStack(app, 'Identity', { env: { region: 'eu-west-1' }, cognito: CognitoSettingsSchema.parse(structuredClone(SETTINGS)), removalPolicy: RemovalPolicy.RETAIN, logKey: key });
    const groups = Object.values(Template.fromStack(stack).findResources('AWS::Logs::LogGroup') as Record<string, Resource>);
    expect(groups.length).toBeGreaterThan(0);
    for (const group of groups) expect(flat(group.Properties['KmsKeyId'])).toContain('PlatformKey');
  });
});

describe('Identity: the Cognito user pool', () => {
  let template: Template;
  let stack: IdentityStack;
  beforeAll(() => ({ stack, template } = identityOf(structuredClone(SETTINGS) as never)));

  it('is a retained, deletion-protected pool with a pinned logical id: admin-created users only, TOTP MFA required, Plus with threat protection enforced, strong passwords', () => {
    template.hasResource('AWS::Cognito::UserPool', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        DeletionProtection: 'ACTIVE',
        AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
        MfaConfiguration: 'ON',
        EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
        UserPoolTier: 'PLUS',
        UserPoolAddOns: { AdvancedSecurityMode: 'ENFORCED' },
        Policies: { PasswordPolicy: Match.objectLike({ MinimumLength: 14, RequireLowercase: true, RequireUppercase: true, RequireNumbers: true, RequireSymbols: true }) },
        Schema: [Match.objectLike({ Name: 'tenant_id', AttributeDataType: 'String', Mutable: false })],
      }),
    });
    expect(Object.keys(template.findResources('AWS::Cognito::UserPool'))).toEqual(['UserPool']);
  });

  it('is destroyed with the stack, unprotected, when the app is not retained', () => {
    const { template: destroyed } = identityOf(structuredClone(SETTINGS) as never, RemovalPolicy.DESTROY);
    destroyed.hasResource('AWS::Cognito::UserPool', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ DeletionProtection: 'INACTIVE' }) });
  });

  it('has one group per Switchboard role', () => {
    const groups = Object.values(template.findResources('AWS::Cognito::UserPoolGroup') as Record<string, Resource>).map((g) => g.Properties['GroupName']);
    expect(groups.sort()).toEqual([...ROLES].sort());
  });

  it('has the resource server `switchboard` with one scope per tool family', () => {
    template.hasResourceProperties('AWS::Cognito::UserPoolResourceServer', {
      Identifier: RESOURCE_SERVER_ID,
      Scopes: FAMILIES.map((family) => ({ ScopeName: family, ScopeDescription: SCOPE_FAMILIES[family as keyof typeof SCOPE_FAMILIES] })),
    });
  });

  it('has the hosted domain of the configured prefix', () => {
    template.hasResourceProperties('AWS::Cognito::UserPoolDomain', { Domain: 'switchboard-test', UserPoolId: { Ref: 'UserPool' } });
  });

  it('gives each machine agent a client-credentials-only client with a secret, its own scopes (default: every family) and 15-minute tokens', () => {
    const scopesOf = (name: string) => {
      const [client] = Object.values(template.findResources('AWS::Cognito::UserPoolClient', { Properties: { ClientName: name } }) as Record<string, Resource>);
      expect(client!.Properties).toMatchObject({ AllowedOAuthFlows: ['client_credentials'], GenerateSecret: true, AccessTokenValidity: 15, TokenValidityUnits: { AccessToken: 'minutes' }, ReadAttributes: [], WriteAttributes: [] });
      return (client!.Properties['AllowedOAuthScopes'] as unknown[]).map(flat).map((s) => s.replace(/^\$\{[^}]+\}\//, ''));
    };
    expect(scopesOf('acme-agents')).toEqual(['agents']);
    expect(scopesOf('globex-ops')).toEqual(FAMILIES);
  });

  it('gives people a public client: authorization code (PKCE, no secret), every family plus openid, the configured callbacks; the tenant readable, not writable', () => {
    const [people] = Object.values(template.findResources('AWS::Cognito::UserPoolClient', { Properties: { ClientName: 'people' } }) as Record<string, Resource>);
    expect(people!.Properties).toMatchObject({ AllowedOAuthFlows: ['code'], GenerateSecret: false, CallbackURLs: SETTINGS.callbackUrls, SupportedIdentityProviders: ['COGNITO'] });
    const scopes = (people!.Properties['AllowedOAuthScopes'] as unknown[]).map(flat).map((s) => s.replace(/^\$\{[^}]+\}\//, ''));
    expect(scopes).toEqual(expect.arrayContaining(['openid', ...FAMILIES]));
    expect(people!.Properties['ReadAttributes']).toContain('custom:tenant_id');
    expect(people!.Properties['WriteAttributes']).not.toContain('custom:tenant_id');
  });

  it('runs the pre token generation trigger (V2_0, access token) from lambdas/identity/pre-token.ts', () => {
    const [pool] = Object.values(template.findResources('AWS::Cognito::UserPool') as Record<string, Resource>);
    const trigger = pool!.Properties['LambdaConfig'].PreTokenGenerationConfig as { LambdaArn: { 'Fn::GetAtt': string[] }; LambdaVersion: string };
    expect(trigger.LambdaVersion).toBe('V2_0');
    const fn = template.findResources('AWS::Lambda::Function')[trigger.LambdaArn['Fn::GetAtt'][0]!] as Resource;
    expect(fn.Metadata?.['switchboard:entry']).toBe('lambdas/identity/pre-token.ts');
    template.hasResourceProperties('AWS::Lambda::Permission', { Principal: 'cognito-idp.amazonaws.com', Action: 'lambda:InvokeFunction' });
  });

  it('exposes the issuer the authorizer trusts: the pool URL, its JWKS, client_id as audience (every client), tenant and roles claims, machine clients mapped to tenant and roles', () => {
    // As the API stack passes it to the authorizer: JSON, the deploy-time ids as tokens (here ${logicalId}).
    const issuer = JSON.parse(flat(stack.resolve(stack.toJsonString(stack.identity.issuer)))) as Record<string, unknown>;
    expect(issuer['issuer']).toBe('https://cognito-idp.eu-west-1.${AWS::URLSuffix}/${UserPool}');
    expect(issuer['jwksUri']).toBe('https://cognito-idp.eu-west-1.${AWS::URLSuffix}/${UserPool}/.well-known/jwks.json');
    expect(issuer).toMatchObject({ audienceClaim: 'client_id', tenantClaim: 'tenant_id', rolesClaim: 'roles' });
    const idOf = (name: string) => `\${${Object.keys(template.findResources('AWS::Cognito::UserPoolClient', { Properties: { ClientName: name } }))[0]}}`;
    expect((issuer['audiences'] as string[]).sort()).toEqual(['people', 'acme-agents', 'globex-ops'].map(idOf).sort());
    expect(issuer['clients']).toEqual({
      [idOf('acme-agents')]: { tenant: 'acme', roles: ['agent'] },
      [idOf('globex-ops')]: { tenant: 'globex', roles: ['submitter', 'viewer'] },
    });
  });

  it('is cdk-nag clean with no acknowledgement', () => {
    expect(nagFindings(stack)).toEqual([]);
    expect(JSON.stringify(template.toJSON())).not.toContain('cdk_nag');
  });
});

describe('Identity: federation and invalid settings', () => {
  it('federates to an OIDC IdP with the client secret as a Secrets Manager reference, mapping its tenant claim to custom:tenant_id (then mutable, for the mapping)', () => {
    const { stack, template } = identityOf({
      domainPrefix: 'switchboard-oidc',
      federation: { type: 'oidc', name: 'corp', issuer: 'https://idp.example.com', clientId: 'abc', clientSecretName: 'switchboard/corp-oidc', tenantClaim: 'org' },
    } as never);
    template.hasResourceProperties('AWS::Cognito::UserPoolIdentityProvider', {
      ProviderName: 'corp',
      ProviderType: 'OIDC',
      ProviderDetails: Match.objectLike({ client_id: 'abc', client_secret: '{{resolve:secretsmanager:switchboard/corp-oidc:SecretString:::}}', oidc_issuer: 'https://idp.example.com' }),
      AttributeMapping: Match.objectLike({ 'custom:tenant_id': 'org' }),
    });
    const [people] = Object.values(template.findResources('AWS::Cognito::UserPoolClient', { Properties: { ClientName: 'people' } }) as Record<string, Resource>);
    const idp = Object.keys(template.findResources('AWS::Cognito::UserPoolIdentityProvider'))[0];
    expect((people!.Properties['SupportedIdentityProviders'] as unknown[]).map(flat)).toEqual(['COGNITO', `\${${idp}}`]);
    template.hasResourceProperties('AWS::Cognito::UserPool', { Schema: [Match.objectLike({ Name: 'tenant_id', Mutable: true })] });
    expect(nagFindings(stack)).toEqual([]);
  });

  it('federates to a SAML IdP from its metadata URL', () => {
    const { template } = identityOf({
      domainPrefix: 'switchboard-saml',
      federation: { type: 'saml', name: 'corp-saml', metadataUrl: 'https://idp.example.com/saml/metadata', tenantAttribute: 'tenant' },
    } as never);
    template.hasResourceProperties('AWS::Cognito::UserPoolIdentityProvider', {
      ProviderName: 'corp-saml',
      ProviderType: 'SAML',
      ProviderDetails: Match.objectLike({ MetadataURL: 'https://idp.example.com/saml/metadata' }),
      AttributeMapping: { 'custom:tenant_id': 'tenant' },
    });
  });

  it('refuses a machine client whose roles are not roles', () => {
    expect(() => identityOf({ domainPrefix: 'x1', machineClients: [{ name: 'bot', tenant: 'acme', roles: ['superuser'] }] } as never)).toThrow(
      /machine client bot has roles superuser, which are not roles/,
    );
  });

  it('refuses two machine clients of one name, and a plain-http callback off loopback', () => {
    const bot = { name: 'bot', tenant: 'acme', roles: ['agent'] };
    expect(() => identityOf({ domainPrefix: 'x2', machineClients: [bot, bot] } as never)).toThrow(/bot is defined twice/);
    expect(() => identityOf({ domainPrefix: 'x3', callbackUrls: ['http://app.example.com/cb'] } as never)).toThrow(/must be https/);
  });
});

describe('tenant isolation by IAM (the whole app, cdk.json config)', () => {
  let stacks: SwitchboardApp;
  let api: Template;
  beforeAll(() => {
    const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
    stacks = buildSwitchboard(app, config);
    app.synth();
    api = Template.fromStack(stacks.api);
  });

  const tenantRoleId = () => {
    const ids = Object.keys(api.findResources('AWS::IAM::Role')).filter((id) => id.startsWith('TenantScopedAccessRole'));
    expect(ids).toHaveLength(1);
    return ids[0]!;
  };

  it('composes the Identity stack when auth.cognito is set, and the API trusts its issuer', () => {
    expect(config.auth.cognito).toBeDefined();
    expect(stacks.identity?.stackName).toBe(`${config.appName}-Identity`);
    expect(nagFindings(stacks.identity!)).toEqual([]);
    const authorizer = Object.values(api.findResources('AWS::Lambda::Function') as Record<string, Resource>).find((f) => /bearer/i.test(String(f.Properties['Description'])))!;
    const issuers = JSON.parse(flat(authorizer.Properties['Environment'].Variables[ENV.authIssuers])) as { issuer: string; audienceClaim: string; clients?: Record<string, unknown> }[];
    const cognito = issuers.find((i) => i.issuer.startsWith('https://cognito-idp.'));
    expect(cognito).toMatchObject({ audienceClaim: 'client_id', clients: expect.any(Object) });
    expect(Object.values(cognito!.clients!)).toEqual(config.auth.cognito!.machineClients.map((m) => ({ tenant: m.tenant, roles: m.roles })));
    expect(Annotations.fromStack(stacks.api).findError('*', Match.stringLikeRegexp('auth.cognito'))).toEqual([]);
  });

  it('reaches the tasks table from the tenant-scoped role only on the session tenant\'s partitions (LeadingKeys on aws:PrincipalTag/tenant)', () => {
    const statements = statementsOf(api, tenantRoleId()).filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
    expect(statements).toHaveLength(1);
    expect(statements[0]!.Condition).toEqual({
      'ForAllValues:StringLike': {
        'dynamodb:LeadingKeys': ['TENANT#${aws:PrincipalTag/tenant}', 'TENANT#${aws:PrincipalTag/tenant}#*', 'QUOTA#${aws:PrincipalTag/tenant}', 'CLAIM#${aws:PrincipalTag/tenant}#*'],
      },
    });
    expect(actionsOf(statements[0]!)).not.toContain('dynamodb:Scan');
    expect((statements[0]!.Resource as unknown[]).map(flat).map((r) => r.replace(/^.*TasksTable[^}]*\}/, 'table'))).toEqual([
      'table',
      'table/index/byCreated',
      'table/index/byStatus',
      'table/index/claimable',
    ]);
  });

  it('lets only the gateway\'s role assume the tenant-scoped role, and only with the tenant session tag (and no other tag)', () => {
    const role = api.findResources('AWS::IAM::Role')[tenantRoleId()] as Resource;
    const gatewayRole = roleOfFunction(api, /^MCP server/);
    expect(role.Properties['AssumeRolePolicyDocument'].Statement).toEqual([
      {
        Action: ['sts:AssumeRole', 'sts:TagSession'],
        Effect: 'Allow',
        Principal: { AWS: { 'Fn::GetAtt': [gatewayRole, 'Arn'] } },
        Condition: { StringLike: { 'aws:RequestTag/tenant': '?*' }, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['tenant'] } },
      },
    ]);
    const assume = statementsOf(api, gatewayRole).filter((s) => actionsOf(s).includes('sts:AssumeRole'));
    expect(assume).toEqual([{ Action: ['sts:AssumeRole', 'sts:TagSession'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [tenantRoleId(), 'Arn'] } }]);
  });

  it('gives the gateway the role\'s ARN and the table\'s name', () => {
    api.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^MCP server'),
      Environment: { Variables: Match.objectLike({ [ENV.tenantRoleArn]: { 'Fn::GetAtt': [tenantRoleId(), 'Arn'] }, [ENV.tasksTable]: Match.anyValue() }) },
    });
  });

  it('gives no tenant-facing function role (gateway, authorizer) a DynamoDB statement without a LeadingKeys condition, and the gateway only the shared partitions', () => {
    const gateway = statementsOf(api, roleOfFunction(api, /^MCP server/)).filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
    const authorizer = statementsOf(api, roleOfFunction(api, /bearer/i)).filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
    for (const statement of [...gateway, ...authorizer]) {
      expect(statement.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'], JSON.stringify(statement)).toBeDefined();
      expect(actionsOf(statement)).not.toContain('dynamodb:Scan');
    }
    // The shared partitions of the tasks table, and the audit table's (append-only: the chains and the tenants' list).
    expect(gateway.map((s) => s.Condition!['ForAllValues:StringLike']!['dynamodb:LeadingKeys'])).toEqual([['AGENTS'], ['DEAD#*'], ['AUDIT#*', 'AUDIT_TENANTS']]);
    expect(actionsOf(gateway[2]!).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query']);
    // Not one key of a tenant's partitions on the gateway's own role.
    expect(JSON.stringify(gateway)).not.toMatch(/TENANT#|QUOTA#|CLAIM#/);
  });
});
