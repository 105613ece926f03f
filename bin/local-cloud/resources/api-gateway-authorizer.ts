import type { LocalRoute } from '../provision';
import { localFunctionName } from './lambda-function';
import { propertiesOf, type ProvisionContext, type ResourceHandler } from './resource-handler';

/** `AWS::ApiGateway::Authorizer` → the TOKEN authorizer of the routes whose methods name it (`localAuthorizer`). */
export const apiGatewayAuthorizer = {
  type: 'AWS::ApiGateway::Authorizer',
} satisfies ResourceHandler;

/** The local form of a method's authorizer: its function, the header it reads, the token regex. */
export const localAuthorizer = (ctx: ProvisionContext, stackName: string, logicalId: string): NonNullable<LocalRoute['authorizer']> => {
  const authorizer = ctx.resources.find(
    (r) => r.stackName === stackName && r.id === logicalId && r.resource.Type === apiGatewayAuthorizer.type,
  );
  if (!authorizer) throw new Error(`local cloud: no authorizer ${stackName}/${logicalId}`);
  const p = propertiesOf(authorizer);
  if (p['Type'] !== 'TOKEN') throw new Error('local cloud: only TOKEN authorizers are emulated');
  return {
    functionName: localFunctionName(ctx, ctx.resolver.string(stackName, p['AuthorizerUri'])),
    identityHeader: String(p['IdentitySource']).replace('method.request.header.', ''),
    ...(p['IdentityValidationExpression'] ? { validation: new RegExp(String(p['IdentityValidationExpression'])) } : {}),
  };
};
