import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { ALL_SCOPES } from '../../lambdas/contracts';
import type { Principal } from '../../lambdas/domain/principal';

type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

export interface EventStyle {
  /** Send header names upper-cased, as some proxies do. */
  upperCaseHeaders?: boolean;
  /** Send the body base64-encoded, as API Gateway does for binary media types. */
  base64Body?: boolean;
}

/** The caller the authorizer verified: a principal, and its token's scopes (default: every scope) and OAuth client. */
export type VerifiedCaller = Principal & { scopes?: readonly string[]; clientId?: string };

export const lambdaContext = { awsRequestId: 'test', functionName: 'test', getRemainingTimeInMillis: () => 29_000 } as Context;

/** Builds the REST v1 proxy event API Gateway would send for `request`, with the authorizer's context. */
export const toProxyEvent = async (request: Request, principal: VerifiedCaller | undefined, style: EventStyle = {}): Promise<APIGatewayProxyEvent> => {
  const multiValueHeaders: Record<string, string[]> = {};
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    const key = style.upperCaseHeaders ? name.toUpperCase() : name.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase());
    headers[key] = value;
    multiValueHeaders[key] = value.split(/,\s*/);
  });
  const url = new URL(request.url);
  if (!Object.keys(headers).some((h) => h.toLowerCase() === 'host')) {
    headers[style.upperCaseHeaders ? 'HOST' : 'Host'] = url.host;
    multiValueHeaders[style.upperCaseHeaders ? 'HOST' : 'Host'] = [url.host];
  }
  const text = request.method === 'GET' ? '' : await request.text();
  return {
    resource: '/mcp',
    path: url.pathname,
    httpMethod: request.method,
    headers,
    multiValueHeaders,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: text ? (style.base64Body ? Buffer.from(text).toString('base64') : text) : null,
    isBase64Encoded: Boolean(text && style.base64Body),
    requestContext: {
      authorizer: principal
        ? {
            tenantId: principal.tenantId,
            subject: principal.subject,
            roles: principal.roles.join(','),
            scopes: (principal.scopes ?? ALL_SCOPES).join(' '),
            clientId: principal.clientId ?? '',
          }
        : undefined,
      domainName: url.host,
      httpMethod: request.method,
      path: `/v1${url.pathname}`,
      stage: 'v1',
      requestId: `req-${Math.random().toString(36).slice(2, 10)}`,
    } as APIGatewayProxyEvent['requestContext'],
  };
};

/** A fetch that delivers each request to a Lambda proxy handler, as API Gateway would. */
export const apiGatewayFetch =
  (handler: ProxyHandler, principal: VerifiedCaller | undefined, style: EventStyle = {}) =>
  async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const result = await handler(await toProxyEvent(request, principal, style), lambdaContext);
    return new Response(result.statusCode === 202 || result.statusCode === 204 ? null : result.body, {
      status: result.statusCode,
      headers: result.headers as Record<string, string>,
    });
  };
