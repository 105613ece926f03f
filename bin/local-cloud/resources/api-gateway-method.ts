import type { LocalGatewayResponse, LocalRoute } from '../provision';
import type { TemplateResolver } from '../resolver';
import { localAuthorizer } from './api-gateway-authorizer';
import { apiPath } from './api-gateway-resource';
import { localFunctionName } from './lambda-function';
import { propertiesOf, type ResourceHandler } from './resource-handler';

interface MockIntegrationProperties {
  IntegrationResponses?: { StatusCode?: unknown; SelectionPattern?: unknown; ResponseParameters?: Record<string, unknown>; ResponseTemplates?: Record<string, unknown> }[];
}

/**
 * What a MOCK integration answers: its default integration response (no selection pattern), with
 * the static `method.response.header.*` values as headers and the `application/json` template as
 * body. Templates are served as written: one using VTL (`$`, `#`) is refused, since it is not emulated.
 */
const mockAnswer = (resolver: TemplateResolver, stackName: string, path: string, integration: MockIntegrationProperties): LocalGatewayResponse => {
  const response = (integration.IntegrationResponses ?? []).find((r) => r.SelectionPattern === undefined || r.SelectionPattern === '');
  if (!response) throw new Error(`local cloud: the MOCK integration of ${path} has no default integration response`);
  const body = response.ResponseTemplates?.['application/json'] === undefined ? '' : resolver.string(stackName, response.ResponseTemplates['application/json']);
  if (/[$#]/.test(body)) throw new Error(`local cloud: the MOCK integration of ${path} uses a VTL template, which is not emulated`);
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(response.ResponseParameters ?? {})) {
    const header = /^method\.response\.header\.(.+)$/.exec(key)?.[1];
    const literal = /^'(.*)'$/s.exec(resolver.string(stackName, value))?.[1];
    if (!header || literal === undefined) throw new Error(`local cloud: the MOCK integration of ${path} maps ${key} from a request value, which is not emulated`);
    headers[header.toLowerCase()] = literal;
  }
  return { statusCode: Number(resolver.string(stackName, response.StatusCode)), headers, body };
};

/**
 * `AWS::ApiGateway::Method` → a route of the local API Gateway: path, HTTP method, and either the
 * function of its Lambda proxy integration (with its TOKEN authorizer when the method is
 * `CUSTOM`-authorized) or the static answer of its MOCK integration.
 */
export const apiGatewayMethod = {
  type: 'AWS::ApiGateway::Method',
  phase: 'wire',
  provision: (ctx, methods) => {
    for (const method of methods) {
      const { stackName } = method;
      const p = propertiesOf(method);
      const integration = p['Integration'] as ({ Type?: string; Uri?: unknown } & MockIntegrationProperties) | undefined;
      if (integration?.Type !== 'AWS_PROXY' && integration?.Type !== 'MOCK') continue;
      const path = apiPath(ctx, stackName, ctx.resolver.string(stackName, p['ResourceId'])) || '/';
      const route: LocalRoute = {
        path,
        method: String(p['HttpMethod']),
        ...(integration.Type === 'MOCK'
          ? { mock: mockAnswer(ctx.resolver, stackName, path, integration) }
          : { functionName: localFunctionName(ctx, ctx.resolver.string(stackName, integration.Uri)) }),
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
