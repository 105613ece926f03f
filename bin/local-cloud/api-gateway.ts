import type { APIGatewayAuthorizerResult, APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LocalFunctions } from './functions';
import type { LocalGatewayResponse, LocalPlatform, LocalRoute } from './provision';
import { LOCAL_ACCOUNT } from './provision';
import { UsagePlanMeter } from './usage-plans';
import { STAGE_NAME } from '../../lib/constructs/mcp-api';

/** API Gateway REST's own payload limit. */
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;
/** The stage the events name (the API's one stage; its paths here carry no prefix, see createApiGateway). */
const STAGE = STAGE_NAME;

const send = (res: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer) => {
  res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
};

const gatewayResponse = (res: ServerResponse, platform: LocalPlatform, type: string, fallback: LocalGatewayResponse) => {
  const response = platform.gatewayResponses.get(type) ?? fallback;
  send(res, response.statusCode, response.headers, response.body);
};

const readBody = async (req: IncomingMessage): Promise<Buffer | undefined> => {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_PAYLOAD_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
};

/** `arn:...:api/stage/*\/*` style policy resources, matched the way API Gateway does. */
const policyAllows = (result: APIGatewayAuthorizerResult, methodArn: string): boolean => {
  const matches = (pattern: string) =>
    new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(methodArn);
  const statements = result.policyDocument?.Statement ?? [];
  const applies = (s: (typeof statements)[number]) =>
    ([] as string[]).concat((s as { Resource?: string | string[] }).Resource ?? []).some(matches);
  if (statements.some((s) => s.Effect === 'Deny' && applies(s))) return false;
  return statements.some((s) => s.Effect === 'Allow' && applies(s));
};

/**
 * The local stand-in for API Gateway REST: matches the template's routes, runs the TOKEN
 * authorizer (regex, Allow/Deny policy, context), answers MOCK integrations itself (the Protected
 * Resource Metadata), builds the v1 proxy event for the others, and maps the result back,
 * answering with the template's gateway responses where API Gateway would.
 *
 * Paths: the API is served as behind a custom domain mapped at the root to stage v1: a
 * template path `/mcp` is `${baseUrl}/mcp`, never `${baseUrl}/v1/mcp` (the events still name
 * the stage). So a resource `${baseUrl}/mcp` has its metadata at
 * `${baseUrl}/.well-known/oauth-protected-resource/mcp`: `resourceMetadataUrlOf`, as on AWS.
 */
export const createApiGateway = (platform: LocalPlatform, functions: LocalFunctions, region: string) => {
  const unauthorized = (res: ServerResponse) =>
    gatewayResponse(res, platform, 'UNAUTHORIZED', { statusCode: 401, headers: {}, body: '{"message":"Unauthorized"}' });
  const meter = new UsagePlanMeter();
  /** A method that requires an API key: the key's usage plan admits the request, or the answer is sent here. */
  const metered = (res: ServerResponse, route: LocalRoute, key: string | undefined): boolean => {
    const plan = key === undefined ? undefined : platform.usagePlans.get(key);
    if (!plan) {
      gatewayResponse(res, platform, 'INVALID_API_KEY', { statusCode: 403, headers: { 'content-type': 'application/json' }, body: '{"message":"Forbidden"}' });
      return false;
    }
    const verdict = meter.take(key!, plan);
    if (verdict === 'throttled') {
      gatewayResponse(res, platform, 'THROTTLED', { statusCode: 429, headers: { 'content-type': 'application/json' }, body: '{"message":"Too Many Requests"}' });
      return false;
    }
    if (verdict === 'quota') {
      gatewayResponse(res, platform, 'QUOTA_EXCEEDED', { statusCode: 429, headers: { 'content-type': 'application/json' }, body: '{"message":"Limit Exceeded"}' });
      return false;
    }
    return route.apiKey !== undefined;
  };

  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const route: LocalRoute | undefined = platform.routes.find(
      (r) => r.path === url.pathname && (r.method === 'ANY' || r.method === req.method),
    );
    if (!route) return false;
    const body = await readBody(req);
    if (!body) {
      send(res, 413, { 'content-type': 'application/json' }, '{"message":"Request Entity Too Large"}');
      return true;
    }
    // Prototype-free records: a header or query parameter named "__proto__" is just a name (as in
    // the JSON event API Gateway sends), never the object's prototype.
    const multiValueHeaders: Record<string, string[]> = Object.create(null);
    const headers: Record<string, string> = Object.create(null);
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      const value = req.rawHeaders[i + 1]!;
      (multiValueHeaders[name] ??= []).push(value);
      headers[name] = value;
    }
    /** Node lower-cases header names; API Gateway's event keeps the client's case (above). */
    const header = (name: string): string | undefined => {
      const value = req.headers[name.toLowerCase()];
      return Array.isArray(value) ? value[0] : value;
    };
    const method = req.method ?? 'GET';
    const methodArn = `arn:aws:execute-api:${region}:${LOCAL_ACCOUNT}:local/${STAGE}/${method}${route.path}`;

    let authorizerContext: Record<string, unknown> | undefined;
    let usageKey: string | undefined = route.apiKey?.source === 'HEADER' ? header('x-api-key') : undefined;
    if (route.authorizer) {
      const token = header(route.authorizer.identityHeader);
      if (!token || (route.authorizer.validation && !route.authorizer.validation.test(token))) {
        unauthorized(res);
        return true;
      }
      try {
        const result = await functions.invoke<APIGatewayAuthorizerResult>(route.authorizer.functionName, {
          type: 'TOKEN',
          authorizationToken: token,
          methodArn,
        });
        if (!policyAllows(result, methodArn)) {
          gatewayResponse(res, platform, 'ACCESS_DENIED', { statusCode: 403, headers: {}, body: '{"message":"Forbidden"}' });
          return true;
        }
        authorizerContext = { principalId: result.principalId, ...result.context };
        if (route.apiKey?.source === 'AUTHORIZER') usageKey = result.usageIdentifierKey ?? undefined;
      } catch (error) {
        if (error instanceof Error && error.message === 'Unauthorized') {
          unauthorized(res);
        } else {
          gatewayResponse(res, platform, 'AUTHORIZER_FAILURE', { statusCode: 500, headers: { 'content-type': 'application/json' }, body: '{"message":null}' });
        }
        return true;
      }
    }

    // As API Gateway: the key's usage plan is checked after the authorizer, before the integration.
    if (route.apiKey && !metered(res, route, usageKey)) return true;
    if (route.mock) {
      send(res, route.mock.statusCode, route.mock.headers, route.mock.body);
      return true;
    }
    const functionName = route.functionName;
    if (functionName === undefined) throw new Error(`local cloud: the route ${route.method} ${route.path} has no integration`);

    const multiValueQueryStringParameters: Record<string, string[]> = Object.create(null);
    for (const [k, v] of url.searchParams) (multiValueQueryStringParameters[k] ??= []).push(v);
    const hasQuery = url.searchParams.size > 0;
    const textual = /json|text|xml|form-urlencoded/i.test(header('content-type') ?? '');
    const event: APIGatewayProxyEvent = {
      resource: route.path,
      path: url.pathname,
      httpMethod: method,
      headers,
      multiValueHeaders,
      queryStringParameters: hasQuery ? Object.fromEntries(url.searchParams) : null,
      multiValueQueryStringParameters: hasQuery ? multiValueQueryStringParameters : null,
      pathParameters: null,
      stageVariables: null,
      // Like API Gateway without binary media types: text bodies as UTF-8, anything else base64.
      body: body.length ? (textual ? body.toString('utf8') : body.toString('base64')) : null,
      isBase64Encoded: body.length > 0 && !textual,
      requestContext: {
        accountId: LOCAL_ACCOUNT,
        apiId: 'local',
        authorizer: authorizerContext,
        protocol: `HTTP/${req.httpVersion}`,
        httpMethod: method,
        identity: { sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: header('user-agent') ?? null } as APIGatewayProxyEvent['requestContext']['identity'],
        path: `/${STAGE}${url.pathname}`,
        stage: STAGE,
        requestId: randomUUID(),
        requestTimeEpoch: Date.now(),
        resourceId: 'local',
        resourcePath: route.path,
        domainName: header('host') ?? 'localhost',
      },
    };
    try {
      const result = await functions.invoke<APIGatewayProxyResult>(functionName, event);
      const responseHeaders: Record<string, string> = { ...(result.headers as Record<string, string> | undefined) };
      for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) responseHeaders[name] = values.join(', ');
      send(res, result.statusCode, responseHeaders, result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body);
    } catch (error) {
      process.stderr.write(`local cloud: ${functionName} failed: ${error instanceof Error ? error.stack : String(error)}\n`);
      send(res, 502, { 'content-type': 'application/json' }, '{"message": "Internal server error"}');
    }
    return true;
  };
};
