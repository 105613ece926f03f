import { specTypeSchemas, type SpecTypeName } from '@modelcontextprotocol/server';

/**
 * Checks on a parsed JSON-RPC message that the SDK does not make (or makes with a raw zod dump
 * and -32603): each answers with one short message, before the SDK sees the message.
 */

/** A key that cannot cross the SDK's copies of a message faithfully (it becomes a prototype). */
const FORBIDDEN_KEY = '__proto__';

/**
 * Whether `__proto__` is an own key anywhere in `value`. `JSON.parse` makes it an own property;
 * every later copy (`{...x}`, zod) turns it into a prototype, so a strict schema never sees it.
 * Iterative: a message nested 100,000 levels deep does not overflow the stack.
 */
export const hasForbiddenKey = (value: unknown): boolean => {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (current === null || typeof current !== 'object') continue;
    if (Array.isArray(current)) {
      for (const item of current) stack.push(item);
      continue;
    }
    if (Object.hasOwn(current, FORBIDDEN_KEY)) return true;
    for (const key of Object.keys(current)) stack.push((current as Record<string, unknown>)[key]);
  }
  return false;
};

export const forbiddenKeyMessage = `Invalid Request: the key "${FORBIDDEN_KEY}" is not accepted`;

export type Era = 'legacy' | 'modern';

/** The protocol methods this server answers in each era, with the SDK's schema for each request. */
const REQUEST_SCHEMAS: Record<Era, Readonly<Record<string, SpecTypeName>>> = {
  legacy: {
    initialize: 'InitializeRequest',
    ping: 'PingRequest',
    'tools/list': 'ListToolsRequest',
    'tools/call': 'CallToolRequest',
    'logging/setLevel': 'SetLevelRequest',
  },
  modern: {
    'server/discover': 'DiscoverRequest',
    'tools/list': 'ListToolsRequest',
    'tools/call': 'CallToolRequest',
  },
};

const MAX_DETAIL = 160;

/**
 * Validates a request's params against the protocol schema of its method (methods of the era
 * only: others get the SDK's own -32601). Returns a short reason, or undefined when valid.
 */
export const invalidParams = (era: Era, message: { method?: unknown; params?: unknown; id?: unknown }): string | undefined => {
  if (typeof message.method !== 'string' || message.id === undefined) return undefined;
  // Own keys only: a method named "constructor" or "__proto__" names no schema.
  const name = Object.hasOwn(REQUEST_SCHEMAS[era], message.method) ? REQUEST_SCHEMAS[era][message.method] : undefined;
  if (!name) return undefined;
  const outcome = specTypeSchemas[name]['~standard'].validate({
    method: message.method,
    ...(message.params !== undefined ? { params: message.params } : {}),
  });
  if (!('issues' in outcome) || !outcome.issues?.length) return undefined;
  const issue = outcome.issues[0]!;
  const path = (issue.path ?? [])
    .map((segment) => String(typeof segment === 'object' && segment !== null ? segment.key : segment))
    .filter((segment, index) => !(index === 0 && segment === 'params'))
    .join('.');
  const detail = issue.message.replace(/^Invalid input: /, '');
  return `Invalid params for ${message.method}: ${path ? `${path}: ` : ''}${detail}`.slice(0, MAX_DETAIL);
};
