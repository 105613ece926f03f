import { isRootResource } from './api-gateway-rest-api';
import { physicalName, propertiesOf, type ProvisionContext, type ResourceHandler } from './resource-handler';

/** `AWS::ApiGateway::Resource` → a path segment, read by the methods under it (`apiPath`). */
export const apiGatewayResource = {
  type: 'AWS::ApiGateway::Resource',
} satisfies ResourceHandler;

/** The path (`/mcp`, or `` for the root) of the API resource a method's `ResourceId` resolves to. */
export const apiPath = (ctx: ProvisionContext, stackName: string, resourceRef: string): string => {
  if (isRootResource(resourceRef)) return '';
  const resource = ctx.resources.find(
    (r) => r.stackName === stackName && r.resource.Type === apiGatewayResource.type && physicalName(stackName, r.id) === resourceRef,
  );
  if (!resource) throw new Error(`local cloud: unknown API resource ${resourceRef}`);
  const p = propertiesOf(resource);
  return `${apiPath(ctx, stackName, ctx.resolver.string(stackName, p['ParentId']))}/${String(p['PathPart'])}`;
};
