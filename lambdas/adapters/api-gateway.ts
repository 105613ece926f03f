import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

/** Why an event could not become a web `Request`: the edge answers each with a 4xx. */
export type RequestRejection = { reason: 'method' } | { reason: 'header'; name: string };

/** Methods the fetch `Request` refuses to carry (TRACE, TRACK, CONNECT) or that are not HTTP tokens. */
const carriable = (method: string): boolean => {
  if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/i.test(method)) return false;
  return !['CONNECT', 'TRACE', 'TRACK'].includes(method.toUpperCase());
};

/** Any Host works: the URL's origin is fixed, the client's Host stays in the headers for the endpoint to judge. */
const ORIGIN = 'https://api-gateway.invalid';

/**
 * API Gateway REST (v1) proxy event → web `Request`, or the reason it cannot be one. Never
 * throws, whatever the method, Host or header bytes. Multi-value headers win over single-value
 * ones, header names keep whatever case the client sent (the Headers class ignores case), and
 * base64 bodies are decoded.
 */
export const toWebRequest = (event: APIGatewayProxyEvent): Request | RequestRejection => {
  const method = event.httpMethod ?? 'GET';
  if (!carriable(method)) return { reason: 'method' };
  const headers = new Headers();
  const add = (name: string, value: string, replace: boolean): RequestRejection | undefined => {
    try {
      if (replace) headers.set(name, value);
      else headers.append(name, value);
      return undefined;
    } catch {
      return { reason: 'header', name: name.slice(0, 64) };
    }
  };
  for (const [name, values] of Object.entries(event.multiValueHeaders ?? {})) {
    for (const value of values ?? []) {
      const rejected = add(name, value, false);
      if (rejected) return rejected;
    }
  }
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value === undefined || hasHeader(headers, name)) continue;
    const rejected = add(name, value, true);
    if (rejected) return rejected;
  }
  if (!headers.has('host') && event.requestContext?.domainName) add('host', event.requestContext.domainName, true);
  const query = new URLSearchParams();
  for (const [name, values] of Object.entries(event.multiValueQueryStringParameters ?? {})) {
    for (const value of values ?? []) query.append(name, value);
  }
  const url = new URL(ORIGIN);
  url.pathname = event.path ?? '/';
  url.search = query.size > 0 ? `?${query}` : '';
  const body =
    event.body === null || event.body === undefined || ['GET', 'HEAD'].includes(method.toUpperCase())
      ? undefined
      : event.isBase64Encoded
        ? Buffer.from(event.body, 'base64')
        : event.body;
  return new Request(url, { method, headers, body });
};

const hasHeader = (headers: Headers, name: string): boolean => {
  try {
    return headers.has(name);
  } catch {
    return false;
  }
};

/** Web `Response` → API Gateway proxy result (buffered: Lambda behind REST APIs cannot stream). */
export const toProxyResult = async (response: Response): Promise<APIGatewayProxyResult> => {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return { statusCode: response.status, headers, body: await response.text(), isBase64Encoded: false };
};

export const headerOf = (event: APIGatewayProxyEvent, name: string): string | undefined => {
  const lower = name.toLowerCase();
  for (const [key, values] of Object.entries(event.multiValueHeaders ?? {})) {
    if (key.toLowerCase() === lower && values?.[0] !== undefined) return values[0];
  }
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === lower && value !== undefined) return value;
  }
  return undefined;
};
