import { describe, expect, it } from 'vitest';
import { NoTenantError, preTokenGeneration } from '../../lambdas/identity/pre-token';

/** Cognito's pre token generation event, version 2, as it reaches the trigger. */
const event = (userAttributes: Record<string, string>, groups: string[] = []) => ({
  version: '2',
  triggerSource: 'TokenGeneration_HostedAuth',
  region: 'eu-west-1',
  userPoolId: 'eu-west-1_abc',
  userName: 'alice',
  callerContext: { awsSdkVersion: 'aws-sdk-unknown-unknown', clientId: 'people' },
  request: { userAttributes, groupConfiguration: { groupsToOverride: groups, iamRolesToOverride: [], preferredRole: null }, scopes: ['openid'] },
  response: { claimsAndScopeOverrideDetails: null },
});

describe('pre token generation trigger (V2_0)', () => {
  it('adds the user\'s tenant and roles (its groups that are Switchboard roles) to the access token, the tenant to the id token', () => {
    const answer = preTokenGeneration(event({ sub: 's', 'custom:tenant_id': 'acme' }, ['submitter', 'viewer', 'Domain Users']));
    expect(answer.response).toEqual({
      claimsAndScopeOverrideDetails: {
        accessTokenGeneration: { claimsToAddOrOverride: { tenant_id: 'acme', roles: ['submitter', 'viewer'] } },
        idTokenGeneration: { claimsToAddOrOverride: { tenant_id: 'acme' } },
      },
    });
    expect(answer).toMatchObject({ userName: 'alice', userPoolId: 'eu-west-1_abc' });
  });

  it('gives a user of no role an empty roles claim (the access policy then allows nothing)', () => {
    const answer = preTokenGeneration(event({ 'custom:tenant_id': 'acme' }));
    expect(answer.response.claimsAndScopeOverrideDetails.accessTokenGeneration.claimsToAddOrOverride.roles).toEqual([]);
  });

  it('refuses to issue tokens to a user without a valid tenant (sign-in fails)', () => {
    expect(() => preTokenGeneration(event({ sub: 's' }))).toThrow(NoTenantError);
    expect(() => preTokenGeneration(event({ 'custom:tenant_id': 'ACME#other' }))).toThrow(NoTenantError);
  });

  it('rejects an event that is not version 2 of the trigger', () => {
    expect(() => preTokenGeneration({ ...event({ 'custom:tenant_id': 'acme' }), version: '1' })).toThrow();
  });
});
