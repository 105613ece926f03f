/**
 * The project's own fuzz test (issue 13): property-based, against the real `npm start` (a data
 * folder of its own, port 0), over raw TCP so that the method, the request-target and every
 * header byte (Host included) are exactly what was generated. Each generated request must get
 *   - an HTTP answer (no dropped connection, no timeout) with a status below 500, and 405 only
 *     with `Allow` (the one exception: a reset while a body over 64 KiB was still being sent,
 *     which is how a server refusing a request on its head alone looks over TCP);
 *   - a 2xx only for an authenticated caller on an allowed Host; on /mcp a 200 is one JSON-RPC
 *     response and a 202 only answers a notification;
 *   - no internal error: no JSON-RPC -32603, no `INTERNAL` tool result (nothing generated here
 *     is a server fault), and no stack trace, file path or raw zod issue dump in any answer;
 *   - no success for a call that must be refused: submit_task with a key outside its schema
 *     (`__proto__`, `constructor`, ... built as raw JSON text, since a JS object loses
 *     `__proto__`), with input nested 10,000+ deep, or from a viewer; tasks/cancel from a viewer;
 * and after each run `GET /healthz` answers 200 (the process is alive) and the caller's tenant
 * holds no task that a successful submit_task answer did not return (nothing written for a
 * refused call). Three properties: the HTTP edge fuzzed around mostly valid bodies, bodies
 * fuzzed behind a mostly valid edge, and both at once.
 *
 * Bounded: FUZZ_RUNS runs per property and at most FUZZ_TIME_MS per property (defaults below;
 * about 30-60 s for the file on a 2-core machine). A failure ends the property at once
 * (`endOnFailure`, no shrinking: after a crash every shrunk candidate would "fail" too); a
 * property that killed the server leaves a restarted one to the next. Deterministic: every
 * choice comes from fast-check's seeded generator (no Math.random); the seed is printed first.
 *
 * Replay:
 *   FUZZ_SEED=<seed> npx vitest run test/e2e/fuzz.test.ts        # the same runs again
 *   FUZZ_SEED=<seed> FUZZ_PATH=<path> npx vitest run test/e2e/fuzz.test.ts -t '<property name>'
 *       # only the failing case: a failure prints this command with its seed and path
 *   FUZZ_SEED=$RANDOM FUZZ_RUNS=20000 FUZZ_TIME_MS=600000 npx vitest run test/e2e/fuzz.test.ts
 *       # longer, with another seed
 * A counterexample is printed as the raw request: `@@PORT@@` is the server's port, `@@TASK_n@@`
 * the n-th task created before the runs, and the Authorization value a label (`acme-submitter`,
 * `tampered`, ...) resolved to a header at send time.
 */
import fc from 'fast-check';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, it } from 'vitest';
import { startLocalCloudProcess, type LocalCloudProcess } from '../../bin/harness/local-cloud-process';
import { NoResponseError, rawHttp, type RawResponse } from '../support/raw-http';

const SEED = Number(process.env['FUZZ_SEED'] ?? 1_302_026);
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 1_000);
const TIME_MS = Number(process.env['FUZZ_TIME_MS'] ?? 15_000);
const PATH = process.env['FUZZ_PATH'];

const MCP_2026 = '2026-07-28';
const META_VERSION = 'io.modelcontextprotocol/protocolVersion';
const META_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
const SUBMIT_KEYS = new Set(['capability', 'input', 'priority', 'idempotencyKey', 'deadline']);
/** submit_task input nested at least this deep must be refused (issue 13). */
const MUST_REFUSE_DEPTH = 10_000;

// ---------------------------------------------------------------------------------------------
// The platform under test, restarted (same data dir, so the same issuer key and tokens) if a run
// killed it, so that each property starts on a live server.

type Principal = 'acme-submitter' | 'globex-admin' | 'acme-viewer' | 'acme-auditor';
const PRINCIPALS: Record<Principal, { tenant: string; roles: string }> = {
  'acme-submitter': { tenant: 'acme', roles: 'submitter' },
  'globex-admin': { tenant: 'globex', roles: 'admin' },
  'acme-viewer': { tenant: 'acme', roles: 'viewer' },
  'acme-auditor': { tenant: 'acme', roles: 'auditor' },
};
/** Who may read each tenant's whole task list. */
const READER: Record<string, Principal> = { acme: 'acme-submitter', globex: 'globex-admin' };

let cloud: LocalCloudProcess | undefined;
let dataDir: string | undefined;
let port = 0;
const tokens = {} as Record<Principal, string>;
/** Task ids per tenant known to be in the table (created before the runs, or returned by a successful submit). */
let known = new Map<string, Set<string>>();
/** Tasks created before the runs, which `@@TASK_n@@` names (get_task / cancel_task targets). */
let seeded: string[] = [];

const validHost = () => `127.0.0.1:${port}`;
const mcpHeaders = (principal: Principal): [string, string][] => [
  ['Host', validHost()],
  ['Authorization', `Bearer ${tokens[principal]}`],
  ['Content-Type', 'application/json'],
  ['Accept', 'application/json, text/event-stream'],
];

/** A 2025-era tools/call (no initialize needed: the endpoint is stateless). */
const callTool = async (principal: Principal, name: string, args: unknown) => {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } });
  const response = await rawHttp(port, { method: 'POST', target: '/mcp', headers: mcpHeaders(principal), body });
  const parsed = JSON.parse(response.body) as { result?: { isError?: boolean; structuredContent?: Record<string, unknown> } };
  if (response.status !== 200 || !parsed.result || parsed.result.isError) {
    throw new Error(`${name} failed: ${response.status} ${response.body.slice(0, 500)}`);
  }
  return parsed.result.structuredContent!;
};

/**
 * A tenant's task ids, newest first, through list_tasks pages: all of them, or with `known`, only
 * those not in it (new tasks are the newest, so the first page holding a known id is the last read).
 */
const listTaskIds = async (tenant: string, known?: ReadonlySet<string>): Promise<string[]> => {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = (await callTool(READER[tenant]!, 'list_tasks', { limit: known ? 10 : 100, ...(cursor ? { cursor } : {}) })) as {
      tasks: { taskId: string }[];
      nextCursor?: string;
    };
    const fresh = page.tasks.map((t) => t.taskId).filter((id) => !known?.has(id));
    ids.push(...fresh);
    cursor = known && fresh.length < page.tasks.length ? undefined : page.nextCursor;
  } while (cursor);
  return ids;
};

const healthy = async (): Promise<boolean> => {
  if (!cloud) return false;
  try {
    return (await rawHttp(port, { method: 'GET', target: '/healthz', headers: [['Host', validHost()]] }, { timeoutMs: 5_000 })).status === 200;
  } catch {
    return false;
  }
};

const startCloud = async () => {
  await cloud?.stop();
  // A data folder of its own (not --in-memory): tokens for several tenants are minted from its issuer key.
  cloud = await startLocalCloudProcess({ inMemory: false, ...(dataDir ? { dataDir } : {}) });
  dataDir = cloud.dataDir;
  port = Number(new URL(cloud.mcpUrl).port);
  const started = cloud;
  await Promise.all(
    (Object.entries(PRINCIPALS) as [Principal, { tenant: string; roles: string }][]).map(async ([principal, { tenant, roles }]) => {
      tokens[principal] ??= await started.token(tenant, roles);
    }),
  );
  seeded = [];
  for (const principal of ['acme-submitter', 'globex-admin', 'acme-submitter', 'globex-admin'] as const) {
    seeded.push(String((await callTool(principal, 'submit_task', { capability: 'echo', input: { seeded: seeded.length } })).taskId));
  }
  known = new Map();
  for (const tenant of Object.keys(READER)) known.set(tenant, new Set(await listTaskIds(tenant)));
};

beforeAll(async () => {
  console.log(`fuzz: seed ${SEED} (property n uses seed ${SEED} + n), ${RUNS} runs and at most ${TIME_MS} ms per property; replay with FUZZ_SEED=${SEED}`);
  await startCloud();
}, 120_000);
beforeEach(async () => {
  if (!(await healthy())) await startCloud();
}, 120_000);
afterAll(async () => {
  await cloud?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Raw JSON text: objects are written from [key, valueText] entries, so `__proto__`, duplicate
// keys and 20,000-deep values survive (a JS object would lose or choke on them).

const text = (value: unknown) => JSON.stringify(value);
const obj = (entries: readonly (readonly [string, string])[]) => `{${entries.map(([k, v]) => `${text(k)}:${v}`).join(',')}}`;

const printable = (maxLength: number, minLength = 0) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength, maxLength });
/** Legal header-value bytes: visible ASCII, space, tab and obs-text (0x80-0xff, sent as latin1). */
const headerValue = (maxLength: number) =>
  fc.string({
    unit: fc.oneof(
      { weight: 20, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
      { weight: 1, arbitrary: fc.constantFrom('\t', '\x80', '\xa0', '\xe9', '\xff') },
    ),
    maxLength,
  });
const tokenChars = '!#$%&\'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const httpToken = (maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...tokenChars.split('')), minLength: 1, maxLength });

/** Nested `depth` levels deep, as text. */
const deepText = (depth: number, kind: 'array' | 'object') =>
  kind === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

/** Any JSON value as text, including the awkward ones. */
const jsonText: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => text(v)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: MUST_REFUSE_DEPTH, max: 20_000 })), fc.constantFrom('array', 'object' as const))
      .map(([depth, kind]) => deepText(depth, kind as 'array' | 'object')),
  },
  // Long strings: mostly past the 64 KiB input limit (an accepted one stays in the table and slows every list).
  { weight: 1, arbitrary: fc.oneof({ weight: 1, arbitrary: fc.constantFrom(2_000, 65_534) }, { weight: 3, arbitrary: fc.integer({ min: 65_535, max: 70_000 }) }).map((n) => text('x'.repeat(n))) },
  { weight: 1, arbitrary: fc.constantFrom('1e400', '-1e400', '-0', '1e-400', '123456789012345678901234567890', '0.1e1', '"\\ud800"', '"\\u0000"', '"\\u202e"', '{}', '[]', '""') },
);

const unknownKey = fc.oneof(
  { weight: 3, arbitrary: fc.constant('__proto__') },
  { weight: 2, arbitrary: fc.constantFrom('constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__') },
  { weight: 2, arbitrary: fc.constantFrom('extra', 'Capability', 'input ', 'tenantId', 'taskId', 'status', 'result', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);
/**
 * Entries plus, sometimes (one time in `1 + rarity`), unknown keys spliced in at random places,
 * and more rarely a duplicate key.
 */
const withMutations = (entries: fc.Arbitrary<[string, string][]>, rarity = 2) =>
  fc
    .tuple(
      entries,
      fc.oneof({ weight: rarity, arbitrary: fc.constant([] as [string, string][]) }, { weight: 1, arbitrary: fc.array(fc.tuple(unknownKey, jsonText), { minLength: 1, maxLength: 2 }) }),
      fc.nat(),
      fc.oneof({ weight: 5 * rarity, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    )
    .map(([base, extra, at, duplicate]) => {
      const out = [...base];
      for (const e of extra) out.splice(at % (out.length + 1), 0, e);
      if (duplicate && out.length > 0) out.push(out[at % out.length]!);
      return out;
    });
const optionalEntry = (key: string, value: fc.Arbitrary<string>, weight = 1) =>
  fc.oneof({ weight: 2, arbitrary: fc.constant([] as [string, string][]) }, { weight, arbitrary: value.map((v): [string, string][] => [[key, v]]) });
const entries = (...parts: fc.Arbitrary<[string, string][]>[]) => fc.tuple(...parts).map((p) => p.flat());

const taskIdText = fc.oneof(
  { weight: 6, arbitrary: fc.nat({ max: 3 }).map((n) => `"@@TASK_${n}@@"`) },
  { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz234567'.split('')), minLength: 26, maxLength: 26 }).map((s) => text(`tsk_${s}`)) },
  { weight: 2, arbitrary: jsonText },
);

const submitArgs = withMutations(
  entries(
    fc
      .oneof({ weight: 20, arbitrary: fc.constant('"echo"') }, { weight: 1, arbitrary: fc.constantFrom('"summarize"', '"ECHO"', '""', '"echo "', 'null', '1') }, { weight: 1, arbitrary: jsonText })
      .map((v): [string, string][] => [['capability', v]]),
    fc.oneof({ weight: 1, arbitrary: fc.constant([] as [string, string][]) }, { weight: 8, arbitrary: jsonText.map((v): [string, string][] => [['input', v]]) }),
    optionalEntry('priority', fc.oneof({ weight: 6, arbitrary: fc.constantFrom('"critical"', '"high"', '"normal"', '"low"') }, { weight: 1, arbitrary: fc.constantFrom('"urgent"', '1', 'null', '"HIGH"') })),
    optionalEntry(
      'idempotencyKey',
      fc.oneof(
        // Mostly fresh keys (a reused key with other arguments is a conflict, not a new task).
        { weight: 6, arbitrary: fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'.split('')), minLength: 12, maxLength: 24 }).map(text) },
        { weight: 1, arbitrary: fc.constantFrom('"k1"', '"k2"') },
        { weight: 1, arbitrary: fc.oneof(fc.constantFrom('""', '"a b"', '1', text('k'.repeat(129))), printable(20).map(text)) },
      ),
    ),
    optionalEntry('deadline', fc.oneof({ weight: 6, arbitrary: fc.constant('"2099-01-01T00:00:00Z"') }, { weight: 1, arbitrary: fc.constantFrom('"2000-01-01T00:00:00Z"', '"tomorrow"', '"2099-01-01"', '0', '"2099-13-45T99:00:00Z"') })),
  ),
);
const taskArgs = withMutations(entries(fc.oneof({ weight: 1, arbitrary: fc.constant([] as [string, string][]) }, { weight: 8, arbitrary: taskIdText.map((v): [string, string][] => [['taskId', v]]) })));
const listArgs = withMutations(
  entries(
    optionalEntry('status', fc.oneof(fc.constantFrom('"queued"', '"running"', '"succeeded"', '"failed"', '"cancelled"'), fc.constantFrom('"done"', '1', 'null'))),
    optionalEntry('limit', fc.oneof(fc.integer({ min: 1, max: 100 }).map(String), fc.constantFrom('0', '101', '-1', '1.5', '"20"', '1e400'))),
    optionalEntry(
      'cursor',
      fc.oneof(
        printable(40).map(text),
        fc.constant(text(Buffer.from('{"t":"globex","k":{"pk":"TENANT#globex","sk":"TASK#x","gsi1pk":"TENANT#globex"}}').toString('base64url'))),
        fc.constant(text('x'.repeat(3000))),
      ),
    ),
  ),
);

const redriveArgs = withMutations(
  entries(
    optionalEntry('priority', fc.oneof(fc.constantFrom('"critical"', '"high"', '"normal"', '"low"'), fc.constantFrom('"urgent"', '1', 'null'))),
    optionalEntry('max', fc.oneof(fc.integer({ min: 1, max: 100 }).map(String), fc.constantFrom('0', '101', '-1', '1.5', '"25"', '1e400'))),
  ),
);

const workflowArgs = withMutations(
  entries(
    fc.oneof(fc.constantFrom('"triage"', '"purchase-approval"'), fc.constantFrom('"nope"', '""', '1', 'null', text('x'.repeat(41)))).map((v): [string, string][] => [['workflow', v]]),
    optionalEntry(
      'input',
      fc.oneof(
        { weight: 4, arbitrary: fc.constant('{"text":"t","priority":"low","customer":"c","item":"i","amount":1}') },
        { weight: 1, arbitrary: fc.constantFrom('"not an object"', '[]', 'null', '{"__proto__":{"x":1}}') },
        { weight: 1, arbitrary: jsonText },
      ),
    ),
    optionalEntry('priority', fc.constantFrom('"high"', '"urgent"')),
  ),
);
const decideArgs = withMutations(entries(taskIdText.map((v): [string, string][] => [['taskId', v]]), optionalEntry('comment', fc.oneof(printable(20).map(text), fc.constant(text('c'.repeat(1001)))))));
const pullArgs = withMutations(
  entries(
    optionalEntry('capabilities', fc.constantFrom('["review"]', '[]', '"review"', '["' + 'x'.repeat(70) + '"]')),
    optionalEntry('taskId', taskIdText),
    optionalEntry('leaseId', fc.constantFrom('"lse_aaaaaaaaaaaaaaaaaaaaaa"', '"nope"')),
    optionalEntry('waitSeconds', fc.constantFrom('0', '21', '-1')),
    optionalEntry('output', jsonText),
    optionalEntry('retryable', fc.constantFrom('true', 'false', '"yes"')),
  ),
);
const registerArgs = withMutations(
  entries(
    optionalEntry('agentId', fc.constantFrom('"crm"', '"Bad Name"', '""')),
    optionalEntry('url', fc.constantFrom('"http://169.254.169.254/latest"', '"http://127.0.0.1:1/mcp"', '"file:///etc/passwd"', '"https://user:pw@example.com/mcp"', '"not a url"')),
  ),
);

const taskMethodArgs = withMutations(
  entries(
    optionalEntry('taskId', taskIdText, 8),
    optionalEntry('cursor', fc.constantFrom('"0"', '"abc"', '""', text('c'.repeat(3000)), '1'), 1),
    optionalEntry('inputResponses', fc.constantFrom('{}', '{"k":{"action":"accept","content":{}}}', '[]', 'null', '"x"'), 2),
  ),
);

const TOOL_NAMES = [
  'submit_task', 'get_task', 'list_tasks', 'cancel_task', 'redrive_dead_letters', 'start_workflow', 'approve_task', 'reject_task', 'list_agents',
  'claim_task', 'heartbeat_task', 'complete_task', 'fail_task', 'register_agent', 'deregister_agent',
  'grant_role', 'revoke_role', 'list_role_grants', 'verify_audit', 'query_audit',
] as const;
const grantArgs = withMutations(
  entries(
    optionalEntry('subject', fc.constantFrom('"bob@acme"', '""', '"x"', text('s'.repeat(300)))),
    optionalEntry('role', fc.constantFrom('"approver"', '"operator"', '"root"', '1')),
    optionalEntry('until', fc.constantFrom('"2099-01-01T00:00:00Z"', '"2026-12-01T00:00:00Z"', '"yesterday"', '0')),
    optionalEntry('reason', fc.oneof(printable(20).map(text), fc.constant(text('r'.repeat(2000))))),
    optionalEntry('grantId', fc.constantFrom('"grt_aaaaaaaaaaaaaaaaaaaaaaaaaa"', '"nope"')),
  ),
);
const auditArgs = withMutations(
  entries(
    optionalEntry('tenant', fc.constantFrom('"acme"', '"globex"', '"../x"', '""')),
    optionalEntry('from', fc.constantFrom('1', '0', '-5', '3.5', '1e13', '"1"')),
    optionalEntry('to', fc.constantFrom('2', '999999999999', '0')),
    optionalEntry('filters', fc.constantFrom('{}', '{"subject":"alice"}', '{"kind":"nope"}', '{"since":"never"}', '{"extra":1}', '[]')),
    optionalEntry('limit', fc.constantFrom('1', '1000', '1001', '0')),
    optionalEntry('cursor', fc.constantFrom('"12"', '"abc"', '"-1"', '"9999999999999"')),
  ),
);
const toolCall = fc.oneof(
  { weight: 2, arbitrary: fc.tuple(fc.constant('start_workflow'), workflowArgs) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('approve_task', 'reject_task'), decideArgs) },
  { weight: 1, arbitrary: fc.tuple(fc.constant('list_agents'), withMutations(entries(optionalEntry('capability', fc.constantFrom('"echo"', '"nope"', '1'))))) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('claim_task', 'heartbeat_task', 'complete_task', 'fail_task'), pullArgs) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('register_agent', 'deregister_agent'), registerArgs) },
  { weight: 5, arbitrary: fc.tuple(fc.constant('submit_task'), submitArgs) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('get_task', 'cancel_task'), taskArgs) },
  { weight: 2, arbitrary: fc.tuple(fc.constant('list_tasks'), listArgs) },
  { weight: 1, arbitrary: fc.tuple(fc.constant('redrive_dead_letters'), redriveArgs) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('grant_role', 'revoke_role', 'list_role_grants'), grantArgs) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('verify_audit', 'query_audit'), auditArgs) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('delete_task', '', 'SUBMIT_TASK', '__proto__', 'constructor', 'toString', 'hasOwnProperty'), fc.constant([] as [string, string][])) },
).chain(([name, args]) =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constant({ name, argsText: obj(args) }) },
    { weight: 1, arbitrary: jsonText.map((argsText) => ({ name, argsText })) },
    { weight: 1, arbitrary: fc.constant({ name, argsText: undefined as string | undefined }) },
  ),
);

interface RpcChoice {
  method: string;
  /** Params entries without `_meta`, or raw text replacing the whole params. */
  params: [string, string][] | { raw: string } | undefined;
  toolName?: string;
}
const LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];
const rpcChoice: fc.Arbitrary<RpcChoice> = fc.oneof(
  {
    weight: 10,
    arbitrary: toolCall.chain(({ name, argsText }) =>
      withMutations(fc.constant(argsText === undefined ? [['name', text(name)]] : [['name', text(name)], ['arguments', argsText]]), 8).map(
        (params): RpcChoice => ({ method: 'tools/call', params, toolName: name }),
      ),
    ),
  },
  {
    weight: 2,
    arbitrary: withMutations(
      entries(
        optionalEntry('protocolVersion', fc.oneof({ weight: 4, arbitrary: fc.constantFrom('"2025-11-25"', '"2025-06-18"', '"2024-11-05"') }, { weight: 1, arbitrary: fc.constantFrom('"2026-07-28"', '"1999-01-01"', '""', '1') }), 6),
        optionalEntry('capabilities', fc.oneof({ weight: 4, arbitrary: fc.constant('{}') }, { weight: 1, arbitrary: fc.constantFrom('"all"', 'null', '[]', '{"roots":1}') }), 6),
        optionalEntry('clientInfo', fc.oneof({ weight: 4, arbitrary: fc.constant('{"name":"fuzz","version":"1"}') }, { weight: 1, arbitrary: fc.constantFrom('{}', '"fuzz"', '{"name":1}') }), 6),
      ),
    ).map((params): RpcChoice => ({ method: 'initialize', params })),
  },
  {
    weight: 2,
    arbitrary: withMutations(
      optionalEntry('level', fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...LEVELS.map((l) => text(l))) }, { weight: 2, arbitrary: fc.constantFrom('"nope"', '"DEBUG"', '1', 'null', '""') }), 6),
    ).map((params): RpcChoice => ({ method: 'logging/setLevel', params })),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.constantFrom('ping', 'tools/list', 'server/discover', 'notifications/initialized', 'resources/list', 'prompts/list', 'resources/read', 'completion/complete', 'subscriptions/listen', 'tasks/get', 'notifications/cancelled'),
        withMutations(fc.constant([])),
      )
      .map(([method, params]): RpcChoice => ({ method, params })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'tools/call/', 'TOOLS/LIST', 'rpc.discover', ''), fc.string({ maxLength: 16 })), jsonText)
      .map(([method, raw]): RpcChoice => ({ method, params: { raw } })),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('ping', 'tools/list', 'tools/call', 'initialize'), jsonText).map(([method, raw]): RpcChoice => ({ method, params: { raw } })) },
  // MCP tasks (docs/protocol.md): every method of both eras, with task ids, cursors and responses mostly right.
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom('tasks/get', 'tasks/result', 'tasks/list', 'tasks/cancel', 'tasks/update'), taskMethodArgs)
      .map(([method, params]): RpcChoice => ({ method, params })),
  },
  // A task-augmented tools/call (2025: params.task), of a tool that runs as a task or of one that does not.
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom('submit_task', 'start_workflow', 'get_task', 'list_tasks', 'nope'), submitArgs, fc.constantFrom('{}', '{"ttl":60000}', '{"ttl":null}', '{"ttl":-1}', '"yes"', '[]', 'null'))
      .map(([name, args, task]): RpcChoice => ({ method: 'tools/call', params: [['name', text(name)], ['arguments', obj(args)], ['task', task]], toolName: name })),
  },
);

/** At most one unknown key (`__proto__` most often), spliced in at a random place. */
const spliceOneUnknown = (base: fc.Arbitrary<[string, string][]>) =>
  fc
    .tuple(base, fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.tuple(unknownKey, jsonText) }), fc.nat())
    .map(([entries, extra, at]) => {
      const out = [...entries];
      if (extra) out.splice(at % (out.length + 1), 0, extra);
      return out;
    });
const optionalValid = (key: string, value: fc.Arbitrary<string>) =>
  fc.oneof({ weight: 1, arbitrary: fc.constant([] as [string, string][]) }, { weight: 1, arbitrary: value.map((v): [string, string][] => [[key, v]]) });
/**
 * Calls that are valid but for at most one thing (an unknown key, an awkward input, one bad
 * field): a call with several faults is refused for the first, and the others never get tested.
 */
const cleanRpc: fc.Arbitrary<RpcChoice> = fc.oneof(
  {
    weight: 4,
    arbitrary: spliceOneUnknown(
      entries(
        fc.constant<[string, string][]>([['capability', '"echo"']]),
        jsonText.map((v): [string, string][] => [['input', v]]),
        optionalValid('priority', fc.constantFrom('"critical"', '"high"', '"normal"', '"low"')),
        optionalValid('idempotencyKey', fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'.split('')), minLength: 16, maxLength: 16 }).map(text)),
        optionalValid('deadline', fc.constant('"2099-01-01T00:00:00Z"')),
      ),
    ).map((args): RpcChoice => ({ method: 'tools/call', params: [['name', '"submit_task"'], ['arguments', obj(args)]], toolName: 'submit_task' })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom('get_task', 'cancel_task'), spliceOneUnknown(taskIdText.map((v): [string, string][] => [['taskId', v]])))
      .map(([name, args]): RpcChoice => ({ method: 'tools/call', params: [['name', text(name)], ['arguments', obj(args)]], toolName: name })),
  },
  {
    weight: 1,
    arbitrary: spliceOneUnknown(optionalValid('limit', fc.integer({ min: 1, max: 100 }).map(String))).map(
      (args): RpcChoice => ({ method: 'tools/call', params: [['name', '"list_tasks"'], ['arguments', obj(args)]], toolName: 'list_tasks' }),
    ),
  },
  {
    weight: 2,
    // initialize with one field missing or wrong (or all of it).
    arbitrary: fc
      .tuple(fc.constantFrom('protocolVersion', 'capabilities', 'clientInfo', 'all'), fc.oneof(fc.constant(undefined), fc.constantFrom('"all"', 'null', '1', '[]', '{}', '""'), jsonText))
      .map(([field, value]): RpcChoice => {
        const valid: [string, string][] = [['protocolVersion', '"2025-11-25"'], ['capabilities', '{}'], ['clientInfo', '{"name":"fuzz","version":"1"}']];
        if (field === 'all') return { method: 'initialize', params: value === undefined ? [] : { raw: value } };
        const params = valid.flatMap(([k, v]): [string, string][] => (k !== field ? [[k, v]] : value === undefined ? [] : [[k, value]]));
        return { method: 'initialize', params };
      }),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(fc.constantFrom(...LEVELS.map((l) => text(l))), fc.constantFrom('"nope"', '"DEBUG"', '1', 'null', '""', '{}'), fc.constant(undefined))
      .map((level): RpcChoice => ({ method: 'logging/setLevel', params: level === undefined ? [] : [['level', level]] })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('ping', 'tools/list', 'server/discover', 'notifications/initialized', 'resources/list', 'subscriptions/listen', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'nope/nope')
      .map((method): RpcChoice => ({ method, params: [] })),
  },
);

interface BodyChoice {
  text: string;
  /** The era the body speaks and the method / tool name its 2026 headers should carry. */
  era: '2025' | '2026' | undefined;
  method?: string;
  toolName?: string;
}
const metaText = fc.oneof(
  { weight: 9, arbitrary: fc.constant(obj([[META_VERSION, text(MCP_2026)], [META_CAPABILITIES, '{}']])) },
  { weight: 3, arbitrary: fc.constant(obj([[META_VERSION, text(MCP_2026)], [META_CAPABILITIES, '{"extensions":{"io.modelcontextprotocol/tasks":{}}}']])) },
  { weight: 1, arbitrary: fc.constantFrom(obj([[META_VERSION, '"2025-11-25"'], [META_CAPABILITIES, '{}']]), obj([[META_VERSION, '"2099-01-01"'], [META_CAPABILITIES, '{}']]), obj([[META_VERSION, text(MCP_2026)]]), obj([[META_VERSION, text(MCP_2026)], [META_CAPABILITIES, '"all"']]), '"meta"', 'null') },
  { weight: 1, arbitrary: jsonText.map((v) => obj([[META_VERSION, text(MCP_2026)], [META_CAPABILITIES, '{}'], ['__proto__', v]])) },
);
const idText = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 0, max: 1_000_000 }).map(String) },
  { weight: 3, arbitrary: printable(12).map(text) },
  { weight: 1, arbitrary: fc.constantFrom('null', '1.5', '-1', '1e400', '{}', '[]', 'true', '9007199254740993', '"__proto__"') },
);
const era = fc.oneof({ weight: 1, arbitrary: fc.constant('2025' as const) }, { weight: 1, arbitrary: fc.constant('2026' as const) });
/** A JSON-RPC message around `rpc`: with everything else valid (`clean`), or with its envelope fuzzed too. */
const messageOf = (rpc: fc.Arbitrary<RpcChoice>, clean: boolean): fc.Arbitrary<BodyChoice> =>
  (clean
    ? fc.record({
        era,
        rpc,
        meta: fc.constant(obj([[META_VERSION, text(MCP_2026)], [META_CAPABILITIES, '{}']])),
        id: fc.integer({ min: 1, max: 1_000_000 }).map(String) as fc.Arbitrary<string | undefined>,
        jsonrpc: fc.constant('"2.0"') as fc.Arbitrary<string | undefined>,
        extra: fc.constant([] as [string, string][]),
      })
    : fc.record({
        era,
        rpc,
        meta: metaText,
        id: fc.oneof({ weight: 10, arbitrary: idText }, { weight: 1, arbitrary: fc.constant(undefined) }),
        jsonrpc: fc.oneof({ weight: 20, arbitrary: fc.constant('"2.0"') }, { weight: 1, arbitrary: fc.constantFrom('"1.0"', '2', 'null') }, { weight: 1, arbitrary: fc.constant(undefined) }),
        extra: fc.oneof({ weight: 12, arbitrary: fc.constant([] as [string, string][]) }, { weight: 1, arbitrary: fc.array(fc.tuple(fc.constantFrom('__proto__', 'result', 'error', 'params', 'method', 'id', 'x'), jsonText), { minLength: 1, maxLength: 1 }) }),
      })
  ).map(({ era, rpc, meta, id, jsonrpc, extra }): BodyChoice => {
    const notification = rpc.method.startsWith('notifications/');
    let params: string | undefined;
    if (rpc.params && 'raw' in rpc.params) params = rpc.params.raw;
    else if (era === '2026') params = obj([...(rpc.params ?? []), ['_meta', meta]]);
    else if (rpc.params) params = obj(rpc.params);
    const top: [string, string][] = [
      ...(jsonrpc === undefined ? [] : [['jsonrpc', jsonrpc] as [string, string]]),
      ...(notification || id === undefined ? [] : [['id', id] as [string, string]]),
      ['method', text(rpc.method)],
      ...(params === undefined ? [] : [['params', params] as [string, string]]),
      ...extra,
    ];
    return { text: obj(top), era, method: rpc.method, ...(rpc.toolName !== undefined ? { toolName: rpc.toolName } : {}) };
  });
/** Half the messages valid but for one thing, half fuzzed at every level. */
const message: fc.Arbitrary<BodyChoice> = fc.oneof(messageOf(cleanRpc, true), messageOf(rpcChoice, false));

const bodyChoice: fc.Arbitrary<BodyChoice> = fc.oneof(
  { weight: 40, arbitrary: message },
  { weight: 2, arbitrary: fc.array(message, { minLength: 1, maxLength: 3 }).map((ms): BodyChoice => ({ text: `[${ms.map((m) => m.text).join(',')}]`, era: ms[0]!.era, method: ms[0]!.method! })) },
  { weight: 2, arbitrary: fc.tuple(message, fc.nat()).map(([m, at]): BodyChoice => ({ ...m, text: m.text.slice(0, at % m.text.length) })) },
  { weight: 1, arbitrary: jsonText.map((t): BodyChoice => ({ text: t, era: undefined })) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '[]', 'null', '{}', '{"jsonrpc":"2.0"}', 'not json', '\ufeff{"jsonrpc":"2.0","id":1,"method":"ping"}').map((t): BodyChoice => ({ text: t, era: undefined })) },
  { weight: 1, arbitrary: message.map((m): BodyChoice => ({ ...m, text: `${m.text.slice(0, -1)},"pad":${text('x'.repeat(1_100_000))}}` })) },
);

// ---------------------------------------------------------------------------------------------
// The HTTP envelope.

type AuthChoice = Principal | 'none' | 'tampered' | 'lower-case-scheme' | 'no-scheme' | 'two-spaces' | 'two-headers' | 'basic' | { garbage: string };
/** Labels whose header carries a valid token in a form that a server may or may not accept. */
const LENIENT_AUTH = new Set<unknown>(['lower-case-scheme', 'no-scheme', 'two-spaces', 'two-headers']);
const authChoice: fc.Arbitrary<AuthChoice> = fc.oneof(
  { weight: 14, arbitrary: fc.constant<AuthChoice>('acme-submitter') },
  { weight: 4, arbitrary: fc.constant<AuthChoice>('globex-admin') },
  { weight: 3, arbitrary: fc.constant<AuthChoice>('acme-viewer') },
  { weight: 2, arbitrary: fc.constant<AuthChoice>('acme-auditor') },
  { weight: 4, arbitrary: fc.constantFrom<AuthChoice>('none', 'tampered', 'lower-case-scheme', 'no-scheme', 'two-spaces', 'two-headers', 'basic') },
  { weight: 2, arbitrary: fc.oneof(headerValue(40), headerValue(40).map((v) => `Bearer ${v}`), fc.constant(`Bearer ${'a'.repeat(9000)}`)).map((garbage): AuthChoice => ({ garbage })) },
);
const tenantOf = (auth: AuthChoice): Principal | undefined => {
  if (typeof auth === 'object' || auth === 'none' || auth === 'tampered' || auth === 'basic') return undefined;
  return LENIENT_AUTH.has(auth) ? 'acme-submitter' : (auth as Principal);
};
const authHeaders = (auth: AuthChoice): [string, string][] => {
  const acme = tokens['acme-submitter'];
  if (typeof auth === 'object') return [['Authorization', auth.garbage]];
  switch (auth) {
    case 'none': return [];
    case 'tampered': return [['Authorization', `Bearer ${acme.slice(0, -6)}AAAAAA`]];
    case 'lower-case-scheme': return [['Authorization', `bearer ${acme}`]];
    case 'no-scheme': return [['Authorization', acme]];
    case 'two-spaces': return [['Authorization', `Bearer  ${acme}`]];
    case 'two-headers': return [['Authorization', `Bearer ${acme}`], ['Authorization', 'Bearer junk']];
    case 'basic': return [['Authorization', `Basic ${Buffer.from('acme:acme').toString('base64')}`]];
    default: return [['Authorization', `Bearer ${tokens[auth]}`]];
  }
};

const HOSTILE_HOSTS = [
  'local host', '', 'localhost:abc', '::1', '%00', 'exa<mple', 'localhost:99999', '[', 'user@evil.example', 'localhost@evil.example',
  'evil.example', 'evil.example:@@PORT@@', '127.0.0.1.nip.io:@@PORT@@', 'localhost:@@PORT@@@evil.example', 'localhost:@@PORT@@/x', 'localhost:-1',
  '[::1', '::1]:80', '[::1]x', 'localhost:@@PORT@@:1', '..', '%', '#', '?', '\\', 'localhost\\@evil.example', '0x7f.1', '[::ffff:127.0.0.1]', '\xff',
];
type HostChoice = { value: string } | { absent: true } | { twice: [string, string] };
const hostChoice: fc.Arbitrary<HostChoice> = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom('127.0.0.1:@@PORT@@', 'localhost:@@PORT@@', 'LOCALHOST:@@PORT@@', '[::1]:@@PORT@@', '127.0.0.1', 'localhost').map((value) => ({ value })) },
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_HOSTS).map((value) => ({ value })) },
  { weight: 2, arbitrary: headerValue(30).map((value) => ({ value })) },
  { weight: 1, arbitrary: fc.constant({ absent: true as const }) },
  { weight: 1, arbitrary: fc.constantFrom(...HOSTILE_HOSTS).map((evil): HostChoice => ({ twice: ['127.0.0.1:@@PORT@@', evil] })) },
);

/** Whether a Host value may be answered with a 2xx: only if even a lenient URL parse lands on an allowed host. */
const hostMayPass = (host: string | undefined): boolean => {
  if (host === undefined) return false;
  try {
    const { hostname, username, password } = new URL(`http://${host}/`);
    if (username || password) return false;
    return ['localhost', '127.0.0.1', '[::1]'].includes(hostname) && new URL(`http://${host}/`).host.length > 0;
  } catch {
    return false;
  }
};

const optionalHeader = (name: string, common: string, variants: readonly string[]) =>
  fc.oneof(
    { weight: 20, arbitrary: fc.constant<[string, string][]>([[name, common]]) },
    { weight: 3, arbitrary: fc.constantFrom(...variants).map((v): [string, string][] => [[name, v]]) },
    { weight: 1, arbitrary: headerValue(40).map((v): [string, string][] => [[name, v]]) },
    { weight: 1, arbitrary: fc.constant<[string, string][]>([]) },
  );
const contentType = optionalHeader('Content-Type', 'application/json', ['application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain', '', 'application/jsonx', 'application/json;', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'text/xml']);
const accept = optionalHeader('Accept', 'application/json, text/event-stream', ['application/json', 'text/event-stream', '*/*', 'text/html', '', 'application/*', 'application/json;q=0', 'text/event-stream, application/json']);
const origin = fc.oneof(
  { weight: 20, arbitrary: fc.constant<[string, string][]>([]) },
  { weight: 2, arbitrary: fc.constantFrom('http://localhost:@@PORT@@', 'http://127.0.0.1:@@PORT@@', 'http://evil.example', 'null', 'file://', 'http://localhost@evil.example', 'junk').map((v): [string, string][] => [['Origin', v]]) },
  { weight: 1, arbitrary: headerValue(30).map((v): [string, string][] => [['Origin', v]]) },
);
/** How the 2026 headers relate to the body. */
const eraHeaders = fc.oneof(
  { weight: 20, arbitrary: fc.constant('match' as const) },
  { weight: 1, arbitrary: fc.constantFrom('missing' as const, 'wrong-version' as const, 'wrong-method' as const, 'wrong-name' as const, 'spurious' as const, 'lower-case' as const) },
);
const FORBIDDEN_JUNK = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'expect', 'authorization', 'upgrade', 'te', 'trailer']);
const junkHeaders = fc.oneof(
  { weight: 12, arbitrary: fc.constant<[string, string][]>([]) },
  {
    weight: 2,
    arbitrary: fc.array(
      fc.oneof(
        fc.tuple(httpToken(16).filter((n) => !FORBIDDEN_JUNK.has(n.toLowerCase())), headerValue(40)),
        fc.constantFrom<[string, string]>(
          ['X-Forwarded-Host', 'evil.example'], ['Forwarded', 'host=evil.example'], ['X-HTTP-Method-Override', 'GET'], ['X-Amzn-Trace-Id', 'Root=junk'],
          ['MCP-Protocol-Version', '2026-07-28'], ['Mcp-Method', 'tools/call'], ['Mcp-Name', 'submit_task'], ['Mcp-Session-Id', 'abc'], ['Content-Encoding', 'gzip'],
          ['__proto__', 'x'], ['constructor', 'x'], ['X-Long', 'a'.repeat(20_000)],
        ),
      ),
      { minLength: 1, maxLength: 2 },
    ),
  },
);

const METHODS = ['GET', 'PUT', 'DELETE', 'PATCH', 'TRACE', 'OPTIONS', 'HEAD', 'CONNECT', 'PROPFIND', 'MKCOL', 'SEARCH', 'QUERY', 'PURGE', 'LOCK', 'M-SEARCH', 'REPORT', 'LINK', 'ACL', 'SOURCE'];
const method = fc.oneof(
  { weight: 16, arbitrary: fc.constant('POST') },
  { weight: 4, arbitrary: fc.constantFrom(...METHODS) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom('post', 'FOO', 'TRACK', 'P0ST', 'POSTX'), httpToken(8)) },
);
const target = fc.oneof(
  { weight: 20, arbitrary: fc.constant('/mcp') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '/mcp/', '/MCP', '/', '/healthz', '/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-authorization-server/oidc', '/oidc/jwks', '/oidc/.well-known/openid-configuration', '/mcp?x=1', '/mcp?__proto__=1&constructor=2',
      '//mcp', '/mcp/../mcp', '/%6dcp', '/mcp%00', '/mcp;x', '*', 'http://localhost/mcp', 'http://evil.example/mcp', '/mcp?', '/mcp#x', '/v1/mcp',
    ),
  },
  // The console (its page, files and operator-only API) and the deep health check.
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '/console', '/console/', '/console/index.html', '/console/app.js', '/console/vendor/uPlot.esm.js', '/console/nope.js', '/console/../mcp',
      '/console/api/queues', '/console/api/agents', '/console/api/', '/console/api/constructor', '/console/api/__proto__', '/console/api/toString',
      '/console/api/hasOwnProperty', '/console/api/queues?x=1', '/console/api/%2e%2e/queues', '/healthz?deep=1', '/healthz/deep', '/healthz?deep=1&deep=0',
    ),
  },
  { weight: 1, arbitrary: fc.webPath() },
  { weight: 1, arbitrary: fc.webQueryParameters().map((q) => `/mcp?${q}`) },
);

interface FuzzRequest {
  method: string;
  target: string;
  host: HostChoice;
  auth: AuthChoice;
  contentType: [string, string][];
  accept: [string, string][];
  origin: [string, string][];
  era: 'match' | 'missing' | 'wrong-version' | 'wrong-method' | 'wrong-name' | 'spurious' | 'lower-case';
  junk: [string, string][];
  body: BodyChoice;
}

/** Long bodies shortened and repeated runs counted, so that a counterexample stays readable. */
const abbreviate = (s: string, max = 600) => {
  const runs = s.replace(/(.{1,6}?)\1{15,}/gs, (m: string, unit: string) => `⟪${unit}×${m.length / unit.length}⟫`);
  return runs.length > max ? `${runs.slice(0, max / 2)}…(${s.length} chars)…${runs.slice(-max / 4)}` : runs;
};
const describeRequest = (r: FuzzRequest) =>
  `${r.method} ${r.target} host=${JSON.stringify(r.host)} auth=${JSON.stringify(r.auth)} era-headers=${r.era} ` +
  `headers=${abbreviate(JSON.stringify([...r.contentType, ...r.accept, ...r.origin, ...r.junk]), 300)} body=${abbreviate(r.body.text)}`;

const request = (overrides: { edge: 'fuzz' | 'valid'; body: 'fuzz' | 'valid' }): fc.Arbitrary<FuzzRequest> => {
  const validOnly = <T>(arb: fc.Arbitrary<T>, valid: T) => (overrides.edge === 'fuzz' ? arb : fc.oneof({ weight: 30, arbitrary: fc.constant(valid) }, { weight: 1, arbitrary: arb }));
  return fc
    .record({
      method: validOnly(method, 'POST'),
      target: validOnly(target, '/mcp'),
      host: validOnly<HostChoice>(hostChoice, { value: '127.0.0.1:@@PORT@@' }),
      auth: overrides.edge === 'fuzz' ? authChoice : fc.oneof({ weight: 10, arbitrary: fc.constantFrom<AuthChoice>('acme-submitter', 'globex-admin') }, { weight: 1, arbitrary: authChoice }),
      contentType: validOnly<[string, string][]>(contentType, [['Content-Type', 'application/json']]),
      accept: validOnly<[string, string][]>(accept, [['Accept', 'application/json, text/event-stream']]),
      origin: validOnly<[string, string][]>(origin, []),
      era: validOnly<FuzzRequest['era']>(eraHeaders, 'match'),
      junk: validOnly<[string, string][]>(junkHeaders, []),
      body: overrides.body === 'fuzz' ? bodyChoice : fc.oneof({ weight: 6, arbitrary: message }, { weight: 1, arbitrary: bodyChoice }),
    })
    .map((r) => Object.assign(r, { [fc.toStringMethod]: () => describeRequest(r) }));
};

// ---------------------------------------------------------------------------------------------
// Sending, and the properties of one answer.

const resolve = (s: string) =>
  s.replaceAll('@@PORT@@', String(port)).replace(/@@TASK_(\d)@@/g, (_, n: string) => seeded[Number(n) % seeded.length] ?? 'tsk_missing');

const wireHeaders = (r: FuzzRequest): [string, string][] => {
  const host: [string, string][] =
    'value' in r.host ? [['Host', resolve(r.host.value)]] : 'twice' in r.host ? r.host.twice.map((v): [string, string] => ['Host', resolve(v)]) : [];
  const era: [string, string][] = [];
  if (r.body.era === '2026' || r.era === 'spurious') {
    const method = r.era === 'wrong-method' ? 'tools/list' : (r.body.method ?? 'ping');
    const name = r.era === 'wrong-name' ? 'get_task' : r.body.toolName;
    if (r.era !== 'missing') {
      era.push([r.era === 'lower-case' ? 'mcp-protocol-version' : 'MCP-Protocol-Version', r.era === 'wrong-version' ? '2025-11-25' : MCP_2026]);
      era.push([r.era === 'lower-case' ? 'mcp-method' : 'Mcp-Method', method]);
      if (name !== undefined) era.push(['Mcp-Name', name]);
    }
  }
  return [...host, ...authHeaders(r.auth), ...r.contentType, ...r.accept, ...r.origin, ...era, ...r.junk].map(([n, v]) => [n, resolve(v)]);
};

/** Depth of a parsed JSON value, without recursion (inputs go 20,000 deep). */
const depthOf = (value: unknown): number => {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    max = Math.max(max, d);
    if (v && typeof v === 'object') for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
};
/** Every string in a parsed JSON value (keys included), without recursion. */
const stringsOf = (value: unknown): string[] => {
  const out: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') out.push(v);
    else if (v && typeof v === 'object') for (const [k, child] of Object.entries(v)) out.push(k), stack.push(child);
  }
  return out;
};

/** Each starts with a literal or is bounded, so that a 70 KB answer is scanned in linear time. */
const LEAKS: [RegExp, string][] = [
  [/\bat (?:async )?(?:[\w$.<>[\] ]{1,200} \()?(?:\/|file:|node:|[A-Za-z]:\\)[^\s)]{0,500}:\d+:\d+/, 'a stack frame'],
  [/Error: [^\n]*\n\s+at /, 'a stack trace'],
  [/node_modules/, 'a node_modules path'],
  [/\/(?:work|home|root|tmp|usr|opt|var)\/[\w.-]/, 'a file path'],
  [/\w\.(?:ts|js|mjs|cjs):\d+/, 'a source file name and line'],
  [/file:\/\//, 'a file URL'],
  [/ZodError|"expected":|"code":\s*"(?:invalid_type|invalid_value|unrecognized_keys|invalid_union|too_big|too_small|custom)"|"path":\s*\[/, 'a raw zod issue dump'],
];

interface Verdict {
  tenant?: string;
  submitted?: string;
}

/** Checks one answer against the properties; returns what a successful submit wrote, for the table check. */
const check = (r: FuzzRequest, response: RawResponse): Verdict => {
  function fail(why: string): never {
    throw new Error(`${why}\n  request: ${describeRequest(r)}\n  answer: ${response.status} ${JSON.stringify(response.headers)} ${abbreviate(response.body, 1500)}`);
  }
  if (response.status >= 500) fail(`a ${response.status} answer`);
  if (response.status === 405 && !response.headers['allow']) fail('a 405 without Allow');

  let parsed: unknown;
  const isJson = /json/i.test(response.headers['content-type'] ?? '');
  if (response.body.length > 0 && isJson) {
    try {
      parsed = JSON.parse(response.body);
    } catch {
      fail('a JSON content type with a body that is not JSON');
    }
  }
  // The landing page (GET /) shows the token command for its data folder: that one path is meant.
  const own = (s: string) => (dataDir ? s.replaceAll(dataDir, '<data-dir>') : s);
  for (const s of [response.body, ...stringsOf(parsed), ...Object.values(response.headers)].map(own)) {
    for (const [pattern, what] of LEAKS) if (pattern.test(s)) fail(`${what} in the answer: ${JSON.stringify(abbreviate(s.match(pattern)![0], 200))}`);
  }

  let pathname = '';
  try {
    pathname = new URL(resolve(r.target), 'http://x').pathname;
  } catch {
    /* not a path: no route */
  }
  const hosts = wireHeaders(r).filter(([n]) => n.toLowerCase() === 'host');
  const hostOk = hosts.length === 1 && hostMayPass(hosts[0]![1]);
  const principal = tenantOf(r.auth);
  const ok = response.status >= 200 && response.status < 300;
  if (ok && pathname === '/mcp') {
    if (!principal) fail('a 2xx for a caller without a valid token');
    if (!hostOk) fail('a 2xx for a Host that is not allowed');
  }
  if (pathname !== '/mcp' || r.method !== 'POST') {
    const page = (r.method === 'GET' || r.method === 'HEAD') && pathname === '/';
    const wellKnown = r.method === 'GET' && ['/healthz', '/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-authorization-server/oidc', '/oidc/jwks', '/oidc/.well-known/openid-configuration'].includes(pathname);
    // The local identity provider's own paths answer as oidc-provider does (discovery, JWKS, CORS preflights).
    const identityProvider = pathname.startsWith('/oidc/');
    // The console's page and files are public (its data comes through MCP and its API, with a token).
    const consoleApi = pathname.startsWith('/console/api/');
    const consoleFile = (r.method === 'GET' || r.method === 'HEAD') && pathname.startsWith('/console/') && !consoleApi;
    // Its API is the operator's: no caller generated here is one.
    if (ok && consoleApi) fail('a 2xx from the console API for a caller who is no operator');
    if (ok && !page && !wellKnown && !identityProvider && !consoleFile) fail('a 2xx for anything but POST /mcp, the landing page, the console\'s files and the well-known GETs');
    return {};
  }

  let body: unknown;
  try {
    body = JSON.parse(r.body.text);
  } catch {
    /* invalid JSON sent */
  }
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (response.status === 202) {
    if (!(isObject(body) && typeof body['method'] === 'string' && !('id' in body)) || response.body.length > 0) fail('a 202 for something other than a notification');
    return {};
  }
  if (response.status !== 200) return {};

  if (!isObject(parsed) || parsed['jsonrpc'] !== '2.0' || ('result' in parsed) === ('error' in parsed)) fail('a 200 that is not one JSON-RPC response');
  const answer = parsed as { error?: { code?: unknown; message?: unknown }; result?: { isError?: boolean; content?: { text?: string }[]; structuredContent?: { taskId?: string } } };
  if (answer.error) {
    if (answer.error.code === -32603) fail('an internal error (-32603) for a client mistake');
    if (typeof answer.error.message !== 'string' || answer.error.message.length > 1000) fail('a JSON-RPC error without a short message');
    return {};
  }
  const result = answer.result;
  const firstText = result?.content?.[0]?.text ?? '';
  if (result?.isError && /^INTERNAL\b/.test(firstText)) fail('an INTERNAL tool error for a client mistake');

  // Was this a successful submit_task, and should it have been?
  const params = isObject(body) && isObject(body['params']) ? body['params'] : undefined;
  // A viewer cancels nothing, through the tool or the task method.
  if (isObject(body) && body['method'] === 'tasks/cancel' && r.auth === 'acme-viewer') fail('a successful tasks/cancel from a viewer');
  // A started workflow run is a task too: it counts as written.
  if (isObject(body) && body['method'] === 'tools/call' && params?.['name'] === 'start_workflow' && !result?.isError) {
    const runId = result?.structuredContent?.taskId;
    if (typeof runId !== 'string') fail('a successful start_workflow without a taskId');
    if (r.auth === 'acme-viewer') fail('a successful start_workflow from a viewer');
    return { tenant: PRINCIPALS[principal!].tenant, submitted: runId };
  }
  if (!(isObject(body) && body['method'] === 'tools/call' && params?.['name'] === 'submit_task') || result?.isError) return {};
  const taskId = result?.structuredContent?.taskId;
  if (typeof taskId !== 'string') fail('a successful submit_task without a taskId');
  const args = params['arguments'];
  if (!isObject(args)) fail('a successful submit_task whose arguments are not an object');
  const unknownKeys = Object.keys(args).filter((k) => !SUBMIT_KEYS.has(k));
  if (unknownKeys.length) fail(`a successful submit_task with unknown argument keys ${JSON.stringify(unknownKeys)} (a task was written)`);
  if (depthOf(args['input']) >= MUST_REFUSE_DEPTH) fail(`a successful submit_task with input nested ${depthOf(args['input'])} deep`);
  if (r.auth === 'acme-viewer') fail('a successful submit_task from a viewer');
  return { tenant: PRINCIPALS[principal!].tenant, submitted: taskId };
};

/** The answer, or undefined when a large body was refused on the request's head and the reset hid the answer. */
const send = async (r: FuzzRequest): Promise<RawResponse | undefined> => {
  try {
    return await rawHttp(port, { method: r.method, target: resolve(r.target), headers: wireHeaders(r), body: Buffer.from(r.body.text, 'utf8') }, { timeoutMs: 15_000 });
  } catch (error) {
    if (error instanceof NoResponseError) {
      const alive = await healthy();
      if (alive && error.resetDuringLargeBody) return undefined;
      throw new Error(`${alive ? 'the connection closed without an HTTP answer' : 'no HTTP answer, and the server process is down'}: ${error.message}\n  request: ${describeRequest(r)}`);
    }
    throw error;
  }
};

/** One run: the request, its properties, the process still alive, and no task the answer did not return. */
const runOne = async (r: FuzzRequest) => {
  const response = await send(r);
  const verdict = response ? check(r, response) : {};
  if (!(await healthy())) throw new Error(`GET /healthz does not answer 200 after\n  request: ${describeRequest(r)}`);
  const principal = tenantOf(r.auth);
  if (!principal || !(r.body.text.includes('submit_task') || r.body.text.includes('start_workflow'))) return;
  const tenant = PRINCIPALS[principal].tenant;
  const seen = known.get(tenant)!;
  if (verdict.submitted) seen.add(verdict.submitted);
  const unexpected = await listTaskIds(tenant, seen);
  for (const id of unexpected) seen.add(id);
  if (unexpected.length) throw new Error(`task ${unexpected.join(', ')} written for tenant ${tenant} by a call that was refused\n  request: ${describeRequest(r)}`);
};

const PROPERTIES = [
  ['the HTTP edge: any method, target, Host, token and header bytes', request({ edge: 'fuzz', body: 'valid' })],
  ['JSON-RPC bodies of both eras: any method, params, arguments and JSON text', request({ edge: 'valid', body: 'fuzz' })],
  ['both at once', request({ edge: 'fuzz', body: 'fuzz' })],
] as const;

describe('npm start under generated requests (issue 13)', () => {
  PROPERTIES.forEach(([name, arbitrary], index) => {
    it(
      name,
      async () => {
        const started = Date.now();
        // One seed per property (SEED + index), so that the properties do not walk in step.
        const details = await fc.check(fc.asyncProperty(arbitrary, runOne), {
          seed: SEED + index,
          numRuns: RUNS,
          endOnFailure: true,
          plugins: [fc.interruptAfterTimeLimit(TIME_MS)],
          ...(PATH ? { path: PATH } : {}),
        });
        console.log(`fuzz: "${name}": ${details.numRuns} runs in ${((Date.now() - started) / 1000).toFixed(1)} s${details.interrupted ? ' (time limit)' : ''}`);
        if (details.failed) {
          const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
          throw new Error(
            `${cause}\n\n${fc.defaultReportMessage(details) ?? ''}\n\nreplay this case: FUZZ_SEED=${SEED} FUZZ_PATH=${details.counterexamplePath} ` +
              `npx vitest run test/e2e/fuzz.test.ts -t ${JSON.stringify(name)}`,
          );
        }
      },
      TIME_MS + 120_000,
    );
  });
});
