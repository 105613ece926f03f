import type { LocalRoute } from '../provision';
import { localAuthorizer } from './api-gateway-authorizer';
import { apiPath } from './api-gateway-resource';
import { localFunctionName } from './lambda-function';
import { propertiesOf, type ResourceHandler } from './resource-handler';

/**
 * `AWS::ApiGateway::Method` with a Lambda proxy integration → a route of the local API Gateway:
 * path, HTTP method, function, and its TOKEN authorizer when the method is `CUSTOM`-authorized.
 */
export const apiGatewayMethod = {
  type: 'AWS::ApiGateway::Method',
  phase: 'wire',
  provision: (ctx, methods) => {
    for (const method of methods) {
      const { stackName } = method;
      const p = propertiesOf(method);
      const integration = p['Integration'] as { Type?: string; Uri?: unknown } | undefined;
      if (integration?.Type !== 'AWS_PROXY') continue;
      const route: LocalRoute = {
        path: apiPath(ctx, stackName, ctx.resolver.string(stackName, p['ResourceId'])) || '/',
        method: String(p['HttpMethod']),
        functionName: localFunctionName(ctx, ctx.resolver.string(stackName, integration.Uri)),
      };
      if (p['ApiKeyRequired'] === true) {
        const api = ctx.resources.find((r) => r.stackName === stackName && r.id === (p['RestApiId'] as { Ref?: string }).Ref);
        route.apiKey = { source: api?.resource.Properties?.['ApiKeySourceType'] === 'AUTHORIZER' ? 'AUTHORIZER' : 'HEADER' };
      }
      if (p['AuthorizationType'] === 'CUSTOM') {
        route.authorizer = localAuthorizer(ctx, stackName, (p['AuthorizerId'] as { Ref: string }).Ref);
      }
      ctx.platform.routes.push(route);
    }
  },
} satisfies ResourceHandler;
