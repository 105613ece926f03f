import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/constructs/switchboard-function';
import { startLocalCloudProcess, type LocalCloudProcess } from '../../bin/harness/local-cloud-process';
import { connectV1, waitForTerminal } from '../../bin/harness/mcp-clients';
import { readLocalCloudDiscovery, type LocalCloudDiscovery } from '../../bin/local-cloud/discovery';
import { readTrailDir } from '../../bin/local-cloud/trail';
import { runAuditCli } from '../../bin/audit';
import { appendAudit, writeAuditDigest } from '../../lambdas/domain/use-cases/audit';
import { DynamoDbAuditDigestStore, DynamoDbAuditStore } from '../../lambdas/adapters/dynamodb-audit-store';
import { LocalFileAuditSigner } from '../../lambdas/adapters/audit-signer-local';
import { auditKeys, GENESIS_HASH, sealAuditEntry } from '../../lambdas/contracts/audit';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { lakeQueryFor, type TrailEvent } from '../../lambdas/adapters/cloudtrail-events';

/**
 * The auditor's CLI end to end (docs/audit.md, "For auditors: the CLI"): npm start on a fresh data
 * folder, a task submitted by a real MCP client, then `npm run -s audit` as a child process reading the
 * local trail and verifying and querying the audit table; a tampered item makes verify exit 1 naming
 * the seq. The --aws trail reads a stand-in of CloudTrail's API on loopback (recorded answers).
 */

const exec = promisify(execFile);
const TSX = join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');
const SECRET = 'AUDIT-CLI-SECRET-INPUT';
/** A tenant of this test's own, so the entries it appends are the only ones in its chain. */
const TENANT = 'auditcli';

let cloud: LocalCloudProcess;
let discovery: LocalCloudDiscovery;

/** `npm run -s audit -- <args>` as a child process: exit code and output. */
const audit = async (args: string[], env: Record<string, string> = {}) => {
  try {
    const { stdout, stderr } = await exec(TSX, ['bin/audit.ts', ...args], { cwd: PROJECT_ROOT, env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

/** The same CLI in this process (each child costs a second or two of start-up). */
const auditHere = async (args: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAuditCli(args, { out: (line) => out.push(line), err: (line) => err.push(line), env: process.env });
  return { code, out, err };
};

beforeAll(async () => {
  cloud = await startLocalCloudProcess();
  discovery = readLocalCloudDiscovery(cloud.dataDir);
  const client = await connectV1(cloud.mcpUrl, await cloud.token('acme', 'submitter'));
  const { taskId } = (await client.callTool('submit_task', { capability: 'echo', input: { note: SECRET } })).structuredContent as { taskId: string };
  expect((await waitForTerminal(client, taskId)).status).toBe('succeeded');
  await client.close();
  // Entries of a tenant of this test's own, appended as the platform's writers append them.
  const store = new DynamoDbAuditStore(dynamodb(), discovery.auditTable!);
  for (const [i, action] of ['submit_task', 'get_task', 'cancel_task', 'approve_task', 'list_tasks'].entries())
    await appendAudit(
      { store, clock: { now: () => new Date(Date.UTC(2026, 0, 1, 0, i)) } },
      { tenantId: TENANT, subject: i === 3 ? 'bob' : 'alice', kind: 'tool', action, decision: i === 2 ? 'deny' : 'allow', outcome: i === 2 ? { status: 'error', code: 'FORBIDDEN' } : { status: 'ok' }, requestId: `req-${i}` },
    );
}, 60_000);
afterAll(() => cloud?.stop());

const dynamodb = () => new DynamoDBClient({ endpoint: discovery.dynamodbEndpoint, region: discovery.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });

describe('npm run audit, against npm start', () => {
  it("trail: the gateway's and the worker's DynamoDB and SQS calls and the function invocations, each naming its caller, no input recorded", async () => {
    const { code, stdout } = await audit(['trail', '--data-dir', cloud.dataDir, '--json', '--limit', '1000']);
    expect(code).toBe(0);
    const events = stdout.trim().split('\n').map((line) => JSON.parse(line) as TrailEvent);
    const by = (pattern: RegExp) => events.filter((e) => pattern.test(`${e.eventSource} ${e.eventName} ${e.principal}`));

    expect(by(/^lambda\.amazonaws\.com Invoke apigateway\.amazonaws\.com$/).map((e) => e.resources[0]!.arn)).toEqual(
      expect.arrayContaining([expect.stringMatching(/:function:Switchboard-Api-McpGateway/), expect.stringMatching(/:function:Switchboard-Api-Authorizer/)]),
    );
    expect(by(/^lambda\.amazonaws\.com Invoke lambda\.amazonaws\.com$/).map((e) => e.resources[0]!.arn)).toContainEqual(expect.stringMatching(/:function:Switchboard-Messaging-Worker/));
    // The gateway sends the task to its queue under its own role; it writes the tenant's task as the tenant-scoped session.
    expect(by(/^sqs\.amazonaws\.com SendMessage arn:aws:sts::\d{12}:assumed-role\/[^/]+\/Switchboard-Api-McpGateway/)).not.toHaveLength(0);
    expect(by(/^dynamodb\.amazonaws\.com PutItem arn:aws:sts::\d{12}:assumed-role\/[^/]*TenantScoped[^/]*\/switchboard-acme$/)).not.toHaveLength(0);
    expect(by(/^dynamodb\.amazonaws\.com UpdateItem arn:aws:sts::\d{12}:assumed-role\/[^/]+\/Switchboard-Messaging-Worker/)).not.toHaveLength(0);
    // The event source mapping's receive and delete.
    expect(by(/^sqs\.amazonaws\.com (ReceiveMessage|DeleteMessageBatch) lambda\.amazonaws\.com$/).map((e) => e.eventName)).toEqual(expect.arrayContaining(['ReceiveMessage', 'DeleteMessageBatch']));
    for (const event of events) expect(event).toMatchObject({ eventId: expect.any(String), requestId: expect.any(String), region: discovery.region, category: expect.stringMatching(/^(Data|Management)$/) });
    expect(new Date(events.at(-1)!.time).getTime()).toBeLessThanOrEqual(new Date(events[0]!.time).getTime()); // newest first

    const files = readdirSync(discovery.trailDir);
    expect(files).toEqual([expect.stringMatching(/^\d{12}_CloudTrail_[a-z0-9-]+_\d{8}\.jsonl$/)]);
    expect(readFileSync(join(discovery.trailDir, files[0]!), 'utf8')).not.toContain(SECRET);

    const sends = await auditHere(['trail', '--data-dir', cloud.dataDir, '--event-name', 'SendMessage']);
    expect(sends.code).toBe(0);
    expect(sends.out[0]).toMatch(/^TIME\s+EVENT\s+SOURCE\s+CATEGORY\s+PRINCIPAL\s+RESOURCES/);
    expect(sends.out.slice(1).every((line) => /\sSendMessage\s+sqs\.amazonaws\.com\s+Data\s/.test(line))).toBe(true);
  });

  it('query: filters, a page and its cursor, JSON lines', async () => {
    const denied = await auditHere(['query', '--data-dir', cloud.dataDir, '--tenant', TENANT, '--decision', 'deny', '--json']);
    expect(denied.code).toBe(0);
    expect(denied.out.map((line) => JSON.parse(line))).toEqual([expect.objectContaining({ seq: 3, action: 'cancel_task', subject: 'alice', outcome: { status: 'error', code: 'FORBIDDEN' } })]);

    const first = await auditHere(['query', '--data-dir', cloud.dataDir, '--tenant', TENANT, '--limit', '2']);
    expect(first.out.slice(1, 3).map((line) => line.split(/\s+/).slice(0, 2).join(' '))).toEqual([`${TENANT} 1`, `${TENANT} 2`]);
    expect(first.out.at(-1)).toBe(`next page: --cursor ${TENANT}/2`);
    const second = await auditHere(['query', '--data-dir', cloud.dataDir, '--tenant', TENANT, '--limit', '2', '--cursor', `${TENANT}/2`]);
    expect(second.out.slice(1, 3).map((line) => line.split(/\s+/)[1])).toEqual(['3', '4']);

    const bob = await auditHere(['query', '--data-dir', cloud.dataDir, '--subject', 'bob', '--since', '2026-01-01T00:02:00Z', '--json']);
    expect(bob.out.map((line) => JSON.parse(line).action)).toEqual(['approve_task']);
  });

  it('verify: clean over every tenant, then exits 1 naming the seq of an item altered in the table', async () => {
    const clean = await auditHere(['verify', '--data-dir', cloud.dataDir]);
    expect(clean).toMatchObject({ code: 0, err: [] });
    expect(clean.out).toEqual([expect.stringMatching(/^verified \d+ entries, \d+ digests? \(\d+ tenants\)$/)]);
    // A digest signed with the local cloud's key file is checked with it.
    const store = new DynamoDbAuditStore(dynamodb(), discovery.auditTable!);
    const signer = new LocalFileAuditSigner(discovery.auditSigningKeyFile);
    await writeAuditDigest({ store, digests: new DynamoDbAuditDigestStore(dynamodb(), discovery.auditTable!), signer, clock: { now: () => new Date() } }, TENANT, 1);
    expect((await auditHere(['verify', '--data-dir', cloud.dataDir, '--tenant', TENANT])).out).toEqual(['verified 5 entries, 1 digest (1 tenant)']);

    await dynamodb().send(
      new UpdateItemCommand({
        TableName: discovery.auditTable!,
        Key: { pk: { S: auditKeys.tenant(TENANT) }, sk: { S: auditKeys.seq(4) } },
        UpdateExpression: 'SET #s = :s',
        ExpressionAttributeNames: { '#s': 'subject' },
        ExpressionAttributeValues: { ':s': { S: 'mallory' } },
      }),
    );
    const tampered = await audit(['verify', '--data-dir', cloud.dataDir, '--tenant', TENANT]);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toBe(`${TENANT}: altered at seq 4: the entry at seq 4 does not hash to its recorded hash\n1 finding in 5 entries, 1 digest (1 tenant)\n`);
    expect((await auditHere(['verify', '--data-dir', cloud.dataDir, '--from', '5'])).code).toBe(0); // a range after it, anchored on seq 4's recorded hash
  });

  it('query --aws: the audit table through the default credentials chain and endpoint settings', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ENDPOINT_URL_DYNAMODB: discovery.dynamodbEndpoint, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_REGION: discovery.region });
    try {
      const result = await auditHere(['query', '--aws', '--table', discovery.auditTable!, '--tenant', TENANT, '--action', 'approve_task', '--json']);
      expect(result).toMatchObject({ code: 0, err: [] });
      expect(result.out.map((line) => JSON.parse(line).seq)).toEqual([4]);
      expect((await auditHere(['query', '--aws', '--tenant', TENANT])).err).toEqual(['audit: --aws needs --table <audit table name> for verify and query']);
    } finally {
      process.env = saved;
    }
  });

  it('verify: reports its progress on stderr over a long range', async () => {
    // 1001 sealed entries written straight to the table (25 a batch): three pages of 500.
    const tenant = 'auditlong';
    const items = [];
    let prevHash = GENESIS_HASH;
    for (let seq = 1; seq <= 1001; seq++) {
      const entry = sealAuditEntry({ tenantId: tenant, subject: 's', kind: 'tool', action: 'get_task', decision: 'allow', outcome: { status: 'ok' }, requestId: `r${seq}`, seq, prevHash, time: new Date(Date.UTC(2026, 0, 1)).toISOString() });
      prevHash = entry.hash;
      items.push({ PutRequest: { Item: { pk: auditKeys.tenant(tenant), sk: auditKeys.seq(seq), ...entry } } });
    }
    const doc = DynamoDBDocumentClient.from(dynamodb());
    for (let i = 0; i < items.length; i += 25) await doc.send(new BatchWriteCommand({ RequestItems: { [discovery.auditTable!]: items.slice(i, i + 25) } }));

    const long = await auditHere(['verify', '--data-dir', cloud.dataDir, '--tenant', tenant]);
    expect(long).toMatchObject({ code: 0, out: ['verified 1001 entries, 0 digests (1 tenant)'] });
    expect(long.err).toEqual([`verify: ${tenant}: 1000 entries read (at seq 1000)`]);
  });

  it('answers operator errors with one line and exit 2', async () => {
    const none = await auditHere(['verify', '--data-dir', mkdtempSync(join(tmpdir(), 'no-cloud-'))]);
    expect(none.code).toBe(2);
    expect(none.err).toEqual([expect.stringMatching(/^audit: no local cloud is running on \S+ \(start one with npm start -- --data-dir \S+; an --in-memory one cannot be reached\)$/)]);
    for (const [args, message] of [
      [['query', '--since', 'yesterday'], '--since: an ISO date or time'],
      [['verify', '--from', '0'], '--from: a seq'],
      [['verify', '--from', '9', '--to', '3'], '--from must not exceed --to'],
      [['purge'], 'unknown command purge'],
      [['trail', '--tenant', 'acme'], '--tenant is not an option of trail'],
      [['query', '--kind', 'secret'], '--kind: one of tool, transition, access, admin'],
      [['query', '--cursor', 'garbage'], '--cursor: the cursor a previous query printed'],
      [['trail', '--lake', 'x'], '--lake needs --aws'],
      [['verify', '--aws', '--table', 'T'], 'verify --aws needs --signing-key'],
    ] as const) {
      const result = await auditHere([...args, ...((args as readonly string[]).includes('--aws') ? [] : ['--data-dir', cloud.dataDir])]);
      expect(result.code).toBe(2);
      expect(result.err).toHaveLength(1);
      expect(result.err[0]).toContain(message);
    }
  });
});

describe('npm run audit, once npm start has stopped', () => {
  it('finds no local cloud: the discovery file went with it', async () => {
    await cloud.stop();
    expect(existsSync(join(cloud.dataDir, 'local-cloud.json'))).toBe(false);
    const after = await auditHere(['query', '--data-dir', cloud.dataDir]);
    expect(after).toMatchObject({ code: 2, err: [expect.stringMatching(/^audit: no local cloud is running on /)] });
    // What it recorded stays in the data folder.
    expect(readdirSync(discovery.trailDir)).toHaveLength(1);
  });
});

describe('npm run audit -- trail --aws (CloudTrail API on loopback, recorded answers)', () => {
  let server: Server;
  const requests: { target: string; body: Record<string, unknown> }[] = [];
  const record = {
    eventVersion: '1.09',
    userIdentity: { type: 'AssumedRole', arn: 'arn:aws:sts::123456789012:assumed-role/GatewayRole/Switchboard-Api-McpGateway', principalId: 'AROAX:Switchboard-Api-McpGateway' },
    eventTime: '2026-11-26T13:34:00Z',
    eventSource: 'kms.amazonaws.com',
    eventName: 'Sign',
    awsRegion: 'eu-west-1',
    requestParameters: { keyId: 'arn:aws:kms:eu-west-1:123456789012:key/k-1' },
    responseElements: null,
    requestID: 'req-1',
    eventID: 'ev-1',
    readOnly: false,
    resources: [{ accountId: '123456789012', type: 'AWS::KMS::Key', ARN: 'arn:aws:kms:eu-west-1:123456789012:key/k-1' }],
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: '123456789012',
    eventCategory: 'Management',
  };
  const expected: TrailEvent = {
    time: '2026-11-26T13:34:00Z',
    eventName: 'Sign',
    eventSource: 'kms.amazonaws.com',
    category: 'Management',
    readOnly: false,
    principal: 'arn:aws:sts::123456789012:assumed-role/GatewayRole/Switchboard-Api-McpGateway',
    principalType: 'AssumedRole',
    region: 'eu-west-1',
    resources: [{ type: 'AWS::KMS::Key', arn: 'arn:aws:kms:eu-west-1:123456789012:key/k-1' }],
    eventId: 'ev-1',
    requestId: 'req-1',
  };
  let polls = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const target = String(req.headers['x-amz-target'] ?? '').split('.').pop()!;
        requests.push({ target, body: JSON.parse(body || '{}') as Record<string, unknown> });
        const answers: Record<string, () => unknown> = {
          LookupEvents: () => ({ Events: [{ EventId: 'ev-1', EventName: 'Sign', EventTime: 1795700040, EventSource: 'kms.amazonaws.com', CloudTrailEvent: JSON.stringify(record) }] }),
          StartQuery: () => ({ QueryId: 'q-1' }),
          GetQueryResults: () =>
            polls++ === 0
              ? { QueryStatus: 'RUNNING' }
              : {
                  QueryStatus: 'FINISHED',
                  QueryResultRows: [
                    [
                      { eventID: 'ev-1' }, { eventTime: '2026-11-26 13:34:00.000' }, { eventSource: 'kms.amazonaws.com' }, { eventName: 'Sign' },
                      { awsRegion: 'eu-west-1' }, { readOnly: 'false' }, { eventCategory: 'Management' }, { requestID: 'req-1' },
                      { principalType: 'AssumedRole' }, { principal: expected.principal }, { resourceList: 'AWS::KMS::Key arn:aws:kms:eu-west-1:123456789012:key/k-1' },
                    ],
                  ],
                },
        };
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'r' });
        res.end(JSON.stringify(answers[target]?.() ?? {}));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    Object.assign(process.env, { AWS_ENDPOINT_URL_CLOUDTRAIL: endpoint, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'eu-west-1' });
  });
  afterAll(() => server?.close());

  it('LookupEvents and a Lake query print the one normalized shape the local trail prints', async () => {
    const lookup = await auditHere(['trail', '--aws', '--event-name', 'Sign', '--since', '2026-11-26', '--json']);
    expect(lookup).toMatchObject({ code: 0, err: [] });
    expect(lookup.out.map((line) => JSON.parse(line))).toEqual([expected]);
    expect(requests[0]).toMatchObject({ target: 'LookupEvents', body: { LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'Sign' }], StartTime: 1795651200 } });

    const lake = await auditHere(['trail', '--aws', '--lake', 'arn:aws:cloudtrail:eu-west-1:123456789012:eventdatastore/eds-1', '--resource', 'k-1', '--limit', '5', '--json']);
    expect(lake).toMatchObject({ code: 0, err: [] });
    expect(lake.out.map((line) => JSON.parse(line))).toEqual([expected]);
    const statement = String(requests.find((r) => r.target === 'StartQuery')!.body['QueryStatement']);
    expect(statement).toContain("FROM eds-1 WHERE any_match(resources, r -> r.arn = 'k-1' OR r.arn LIKE '%/k-1' ESCAPE '\\')");
    // Values are SQL string literals, quotes doubled, LIKE wildcards escaped.
    expect(lakeQueryFor('eds-1', { eventName: 'Put', resource: "a'b%_c", limit: 1 })).toContain("eventName = 'Put' AND any_match(resources, r -> r.arn = 'a''b%_c' OR r.arn LIKE '%/a''b\\%\\_c' ESCAPE '\\')");
    expect(statement).toMatch(/ORDER BY eventTime DESC LIMIT 5$/);
    expect(requests.filter((r) => r.target === 'GetQueryResults')).toHaveLength(2); // polled until FINISHED

    // The same keys, in the same order, as the local trail's events.
    const [local] = await readTrailDir(discovery.trailDir, { limit: 1 });
    expect(local).toBeDefined();
    expect(Object.keys(local!).filter((k) => k !== 'errorCode')).toEqual(Object.keys(expected));
  });
});
