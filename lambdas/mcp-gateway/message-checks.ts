import { specTypeSchemas, type SpecTypeName } from '@modelcontextprotocol/server';
import * as z from 'zod';

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
    'tasks/get': 'GetTaskRequest',
    'tasks/result': 'GetTaskPayloadRequest',
    'tasks/list': 'ListTasksRequest',
    'tasks/cancel': 'CancelTaskRequest',
  },
  modern: {
    'server/discover': 'DiscoverRequest',
    'tools/list': 'ListToolsRequest',
    'tools/call': 'CallToolRequest',
  },
};

const MAX_DETAIL = 160;

/** The 2026-07-28 tasks extension's methods (SEP-2663; the SDK has no schema of them): a task id, and for tasks/update its responses. */
const TaskIdParams = z.looseObject({ taskId: z.string().min(1).max(256) });
const MODERN_TASK_PARAMS: Readonly<Record<string, z.ZodType>> = {
  'tasks/get': TaskIdParams,
  'tasks/cancel': TaskIdParams,
  'tasks/update': TaskIdParams.extend({ inputResponses: z.record(z.string(), z.unknown()) }),
};

const describeIssue = (method: string, issue: { path?: readonly unknown[]; message: string }): string => {
  const path = (issue.path ?? [])
    .map((segment) => String(typeof segment === 'object' && segment !== null ? (segment as { key: unknown }).key : segment))
    .filter((segment, index) => !(index === 0 && segment === 'params'))
    .join('.');
  const detail = issue.message.replace(/^Invalid input: /, '');
  return `Invalid params for ${method}: ${path ? `${path}: ` : ''}${detail}`.slice(0, MAX_DETAIL);
};

/**
 * Validates a request's params against the protocol schema of its method (methods of the era
 * only: others get the SDK's own -32601). Returns a short reason, or undefined when valid.
 */
export const invalidParams = (era: Era, message: { method?: unknown; params?: unknown; id?: unknown }): string | undefined => {
  if (typeof message.method !== 'string' || message.id === undefined) return undefined;
  // Own keys only: a method named "constructor" or "__proto__" names no schema.
  const name = Object.hasOwn(REQUEST_SCHEMAS[era], message.method) ? REQUEST_SCHEMAS[era][message.method] : undefined;
  if (!name) {
    const params = era === 'modern' && Object.hasOwn(MODERN_TASK_PARAMS, message.method) ? MODERN_TASK_PARAMS[message.method]! : undefined;
    if (!params) return undefined;
    const parsed = params.safeParse(message.params ?? {});
    return parsed.success ? undefined : describeIssue(message.method, parsed.error.issues[0]!);
  }
  const outcome = specTypeSchemas[name]['~standard'].validate({
    method: message.method,
    ...(message.params !== undefined ? { params: message.params } : {}),
  });
  if (!('issues' in outcome) || !outcome.issues?.length) return undefined;
  return describeIssue(message.method, outcome.issues[0]!);
};
