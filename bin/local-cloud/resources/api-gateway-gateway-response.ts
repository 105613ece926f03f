import { propertiesOf, type ResourceHandler } from './resource-handler';

/**
 * `AWS::ApiGateway::GatewayResponse` → what the local API Gateway answers for that response type
 * (UNAUTHORIZED, ACCESS_DENIED, …): status, headers, and the `application/json` template as body.
 */
export const apiGatewayGatewayResponse = {
  type: 'AWS::ApiGateway::GatewayResponse',
  phase: 'wire',
  provision: (ctx, responses) => {
    for (const response of responses) {
      const p = propertiesOf(response);
      const headers: Record<string, string> = {};
      // Static values, quoted; deploy-time parts (the API's id in the challenge's URL) resolved as CloudFormation would.
      for (const [key, value] of Object.entries((p['ResponseParameters'] ?? {}) as Record<string, unknown>)) {
        headers[key.replace('gatewayresponse.header.', '')] = ctx.resolver.string(response.stackName, value).replace(/^'|'$/g, '');
      }
      const templates = (p['ResponseTemplates'] ?? {}) as Record<string, string>;
      ctx.platform.gatewayResponses.set(String(p['ResponseType']), {
        statusCode: Number(p['StatusCode']),
        headers,
        body: templates['application/json'] ?? '',
      });
    }
  },
} satisfies ResourceHandler;
