import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

/**
 * API Gateway REST (v1) proxy event → web `Request`. Multi-value headers win over single-value
 * ones, header names keep whatever case the client sent (the Headers class ignores case), and
 * base64 bodies are decoded.
 */
export const toWebRequest = (event: APIGatewayProxyEvent): Request => {
  const headers = new Headers();
  for (const [name, values] of Object.entries(event.multiValueHeaders ?? {})) {
    for (const value of values ?? []) headers.append(name, value);
  }
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined && !headers.has(name)) headers.set(name, value);
  }
  const query = new URLSearchParams();
  for (const [name, values] of Object.entries(event.multiValueQueryStringParameters ?? {})) {
    for (const value of values ?? []) query.append(name, value);
  }
  const host = headers.get('host') ?? event.requestContext?.domainName ?? 'localhost';
  const search = query.size > 0 ? `?${query}` : '';
  const body =
    event.body === null || event.body === undefined || event.httpMethod === 'GET' || event.httpMethod === 'HEAD'
      ? undefined
      : event.isBase64Encoded
        ? Buffer.from(event.body, 'base64')
        : event.body;
  return new Request(`https://${host}${event.path}${search}`, { method: event.httpMethod, headers, body });
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
