import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { describe, expect, it } from 'vitest';
import { dynamoDbClient, sfnClient, sqsClient, stsClient, type AwsClientConfig } from '../../lambdas/adapters/runtime';
import { LocalTrail, readTrailDir, trailIdentitiesOf, type TrailIdentities } from '../../bin/local-cloud/trail';
import type { SynthesizedStack } from '../../bin/local-cloud/synth';

const ACCOUNT = '000000000000';
const REGION = 'eu-west-1';
const SECRET = 'SECRET-INPUT-4711';
const GATEWAY = 'Switchboard-Stateless-McpGateway';
const WORKER = 'Switchboard-Stateless-Worker';
const TASKS = 'Switchboard-Stateful-Tasks';

const role = (name: string) => ({ name, arn: `arn:aws:iam::${ACCOUNT}:role/${name}`, id: `AROA${name.toUpperCase().slice(0, 17)}` });
const identities: TrailIdentities = {
  functionRoles: new Map([
    [GATEWAY, role('GatewayRole')],
    [WORKER, role('WorkerRole')],
  ]),
  roles: new Map([[role('TenantRole').arn, role('TenantRole')]]),
};

/** What a stubbed service answers: status, JSON or XML body, request id; `seen` keeps each signed request's Authorization. */
type Answer = { status?: number; body: string; contentType?: string; headers?: Record<string, string> };
const stubHandler = (answer: (request: { headers: Record<string, string>; body?: unknown }) => Answer) => ({
  handle: async (request: { headers: Record<string, string>; body?: unknown }) => {
    const { status = 200, body, contentType = 'application/x-amz-json-1.0', headers = {} } = answer(request);
    return {
      response: { statusCode: status, reason: '', headers: { 'content-type': contentType, 'x-amzn-requestid': 'req-1', ...headers }, body: new TextEncoder().encode(body) },
    };
  },
});

const local = { region: REGION, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, endpoint: 'http://127.0.0.1:9' };
const clientsFor = (trail: LocalTrail, answers: { dynamodb?: () => Answer; sqs?: () => Answer; sfn?: () => Answer; sts?: () => Answer } = {}) => {
  const aws: AwsClientConfig = {
    dynamodb: { ...local, requestHandler: stubHandler(answers.dynamodb ?? (() => ({ body: '{}' }))) },
    sqs: { ...local, md5: false, requestHandler: stubHandler(answers.sqs ?? (() => ({ body: '{"MessageId":"m-1"}' }))) },
    stepfunctions: { ...local, requestHandler: stubHandler(answers.sfn ?? (() => ({ body: '{"executionArn":"arn:x","startDate":0}' }))) },
    sts: { ...local, requestHandler: stubHandler(answers.sts ?? (() => ({ body: '', contentType: 'text/xml' }))) },
    plugins: [trail.sdkPlugin],
  };
  return {
    aws,
    doc: DynamoDBDocumentClient.from(dynamoDbClient(aws)),
    sqs: sqsClient(aws),
    sfn: sfnClient(aws),
    sts: stsClient(aws),
  };
};

const apiEvent = { httpMethod: 'POST', requestContext: {}, body: SECRET };

describe('LocalTrail', () => {
  it('records an SDK call in CloudTrail record format, named after the function whose invocation made it, and the invocation itself', async () => {
    const trail = new LocalTrail({ region: REGION, accountId: ACCOUNT, identities, tableKeys: new Map([[TASKS, ['pk', 'sk']]]) });
    const { doc } = clientsFor(trail);

    await trail.invocation(GATEWAY, apiEvent, () => doc.send(new PutCommand({ TableName: TASKS, Item: { pk: 'TENANT#acme', sk: 'TASK#t1', input: SECRET } })), 'invoke-req');

    const [invoke, put] = trail.records();
    expect(invoke).toMatchObject({
      eventVersion: '1.09',
      eventSource: 'lambda.amazonaws.com',
      eventName: 'Invoke',
      awsRegion: REGION,
      userIdentity: { type: 'AWSService', invokedBy: 'apigateway.amazonaws.com' },
      requestParameters: { functionName: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${GATEWAY}` },
      resources: [{ type: 'AWS::Lambda::Function', ARN: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${GATEWAY}` }],
      readOnly: false,
      eventCategory: 'Data',
      managementEvent: false,
      requestID: 'invoke-req',
    });
    expect(put).toMatchObject({
      eventVersion: '1.09',
      eventSource: 'dynamodb.amazonaws.com',
      eventName: 'PutItem',
      awsRegion: REGION,
      userIdentity: {
        type: 'AssumedRole',
        arn: `arn:aws:sts::${ACCOUNT}:assumed-role/GatewayRole/${GATEWAY}`,
        principalId: `AROAGATEWAYROLE:${GATEWAY}`,
        accountId: ACCOUNT,
        accessKeyId: 'local',
        sessionContext: { sessionIssuer: { type: 'Role', arn: `arn:aws:iam::${ACCOUNT}:role/GatewayRole`, userName: 'GatewayRole' } },
      },
      requestParameters: { tableName: TASKS, key: { pk: 'TENANT#acme', sk: 'TASK#t1' } },
      resources: [{ accountId: ACCOUNT, type: 'AWS::DynamoDB::Table', ARN: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${TASKS}` }],
      readOnly: false,
      eventCategory: 'Data',
      managementEvent: false,
      requestID: 'req-1',
      eventType: 'AwsApiCall',
      recipientAccountId: ACCOUNT,
    });
    expect(put!.eventTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(put!.eventID).toMatch(/^[0-9a-f-]{36}$/);
    expect(put!.eventID).not.toBe(invoke!.eventID);
  });

  it('never records item contents, expression values, message bodies or execution input, in memory or on disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trail-'));
    const trail = new LocalTrail({ region: REGION, accountId: ACCOUNT, identities, tableKeys: new Map([[TASKS, ['pk', 'sk']]]), dir, flushMs: 5 });
    const { doc, sqs, sfn } = clientsFor(trail);

    await trail.invocation(WORKER, { Records: [{ eventSource: 'aws:sqs', body: SECRET }] }, async () => {
      await doc.send(new PutCommand({ TableName: TASKS, Item: { pk: 'TENANT#acme', sk: 'TASK#t1', input: SECRET, nested: { deep: [SECRET] } } }));
      await doc.send(
        new UpdateCommand({
          TableName: TASKS,
          Key: { pk: 'TENANT#acme', sk: 'TASK#t1' },
          UpdateExpression: 'SET #r = :r',
          ConditionExpression: '#s = :s',
          ExpressionAttributeNames: { '#r': 'result', '#s': 'status' },
          ExpressionAttributeValues: { ':r': SECRET, ':s': 'running' },
        }),
      );
      await sqs.send(new SendMessageCommand({ QueueUrl: 'http://127.0.0.1:9/000000000000/tasks-high.fifo', MessageBody: SECRET, MessageGroupId: 'g' }));
      await sfn.send(new StartExecutionCommand({ stateMachineArn: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:triage`, name: 'run-1', input: JSON.stringify({ SECRET }) }));
    });
    await trail.stop();

    const names = trail.records().map((r) => `${r.eventSource} ${r.eventName}`);
    expect(names).toEqual([
      'lambda.amazonaws.com Invoke',
      'dynamodb.amazonaws.com PutItem',
      'dynamodb.amazonaws.com UpdateItem',
      'sqs.amazonaws.com SendMessage',
      'states.amazonaws.com StartExecution',
    ]);
    expect(trail.records()[3]).toMatchObject({
      requestParameters: { queueUrl: 'http://127.0.0.1:9/000000000000/tasks-high.fifo' },
      resources: [{ type: 'AWS::SQS::Queue', ARN: `arn:aws:sqs:${REGION}:${ACCOUNT}:tasks-high.fifo` }],
      eventCategory: 'Data',
    });
    expect(trail.records()[4]).toMatchObject({
      requestParameters: { stateMachineArn: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:triage`, name: 'run-1' },
      eventCategory: 'Management',
      managementEvent: true,
    });
    expect(trail.records()[0]!.userIdentity).toEqual({ type: 'AWSService', invokedBy: 'lambda.amazonaws.com' });
    const [file] = readdirSync(dir);
    const written = readFileSync(join(dir, file!), 'utf8');
    expect(written.trim().split('\n')).toHaveLength(5);
    expect(JSON.stringify(trail.records())).not.toContain(SECRET);
    expect(written).not.toContain(SECRET);
    expect(written).not.toContain('running'); // an expression value, however harmless
  });

  it('attributes concurrent invocations each to its own function, and calls outside any invocation to the event source mapping', async () => {
    const trail = new LocalTrail({ region: REGION, accountId: ACCOUNT, identities, tableKeys: new Map([[TASKS, ['pk', 'sk']]]) });
    const { doc, sqs } = clientsFor(trail, { sqs: () => ({ body: '{"Messages":[{"MessageId":"m","ReceiptHandle":"h","Body":"x","MD5OfBody":"x"}]}' }) });
    const pause = () => new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
    const work = (fn: string) => async () => {
      for (let i = 0; i < 5; i++) {
        await pause();
        await doc.send(new PutCommand({ TableName: TASKS, Item: { pk: fn, sk: String(i) } }));
      }
    };

    await Promise.all([trail.invocation(GATEWAY, apiEvent, work(GATEWAY)), trail.invocation(WORKER, { source: 'aws.events' }, work(WORKER)), sqs.send(new ReceiveMessageCommand({ QueueUrl: 'http://127.0.0.1:9/000000000000/q' }))]);

    const puts = trail.records().filter((r) => r.eventName === 'PutItem');
    expect(puts).toHaveLength(10);
    for (const put of puts) {
      const table = put.requestParameters as { key: { pk: string } };
      expect(put.userIdentity.arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/${table.key.pk === GATEWAY ? 'GatewayRole' : 'WorkerRole'}/${table.key.pk}`);
    }
    expect(trail.records().find((r) => r.eventName === 'ReceiveMessage')!.userIdentity).toEqual({ type: 'AWSService', invokedBy: 'lambda.amazonaws.com' });
    expect(trail.records().find((r) => r.eventName === 'Invoke' && r.requestParameters!['functionName'] === `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${WORKER}`)!.userIdentity.invokedBy).toBe(
      'events.amazonaws.com',
    );
  });

  it('names the assumed session for calls signed with credentials an AssumeRole answered (the tenant-scoped role), never its secret', async () => {
    const trail = new LocalTrail({ region: REGION, accountId: ACCOUNT, identities });
    const seenKeys: string[] = [];
    const sessionArn = `arn:aws:sts::${ACCOUNT}:assumed-role/TenantRole/switchboard-acme`;
    const { aws, sts } = clientsFor(trail, {
      sts: () => ({
        contentType: 'text/xml',
        body:
          '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIATENANT</AccessKeyId>' +
          `<SecretAccessKey>${SECRET}</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>` +
          `<AssumedRoleUser><Arn>${sessionArn}</Arn><AssumedRoleId>AROATENANT:switchboard-acme</AssumedRoleId></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>`,
      }),
    });
    const scoped = DynamoDBDocumentClient.from(
      dynamoDbClient({
        ...aws,
        dynamodb: {
          ...aws.dynamodb,
          credentials: { accessKeyId: 'ASIATENANT', secretAccessKey: SECRET, sessionToken: 'tok' },
          requestHandler: stubHandler((request) => {
            seenKeys.push(request.headers['authorization'] ?? '');
            return { body: '{}' };
          }),
        },
      }),
    );

    await trail.invocation(GATEWAY, apiEvent, async () => {
      await sts.send(new AssumeRoleCommand({ RoleArn: role('TenantRole').arn, RoleSessionName: 'switchboard-acme', DurationSeconds: 900, Tags: [{ Key: 'tenant', Value: 'acme' }] }));
      await scoped.send(new PutCommand({ TableName: TASKS, Item: { pk: 'TENANT#acme', sk: 'TASK#1' } }));
    });

    const [, assume, put] = trail.records();
    expect(assume).toMatchObject({
      eventSource: 'sts.amazonaws.com',
      eventName: 'AssumeRole',
      userIdentity: { arn: `arn:aws:sts::${ACCOUNT}:assumed-role/GatewayRole/${GATEWAY}` },
      requestParameters: { roleArn: role('TenantRole').arn, roleSessionName: 'switchboard-acme', durationSeconds: 900 },
      resources: [{ type: 'AWS::IAM::Role', ARN: role('TenantRole').arn }],
      responseElements: null,
      eventCategory: 'Management',
    });
    expect(seenKeys[0]).toContain('Credential=ASIATENANT/');
    expect(put!.userIdentity).toMatchObject({
      type: 'AssumedRole',
      arn: sessionArn,
      principalId: 'AROATENANT:switchboard-acme',
      accessKeyId: 'ASIATENANT',
      sessionContext: { sessionIssuer: { arn: role('TenantRole').arn, userName: 'TenantRole' } },
    });
    expect(JSON.stringify(trail.records())).not.toContain(SECRET);
  });

  it('records a failed call with its error code, and no empty long poll', async () => {
    const trail = new LocalTrail({ region: REGION, accountId: ACCOUNT, identities });
    const { doc, sqs } = clientsFor(trail, {
      dynamodb: () => ({ status: 400, body: '{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}' }),
      sqs: () => ({ body: '{}' }),
    });

    await trail.invocation(WORKER, {}, async () => {
      await expect(doc.send(new PutCommand({ TableName: TASKS, Item: { pk: 'a', sk: 'b' }, ConditionExpression: 'attribute_not_exists(pk)' }))).rejects.toBeInstanceOf(
        ConditionalCheckFailedException,
      );
      await sqs.send(new ReceiveMessageCommand({ QueueUrl: 'http://127.0.0.1:9/000000000000/q', WaitTimeSeconds: 1 }));
    });

    expect(trail.records().map((r) => r.eventName)).toEqual(['Invoke', 'PutItem']);
    expect(trail.records()[1]).toMatchObject({ errorCode: 'ConditionalCheckFailedException', errorMessage: 'The conditional request failed' });
  });

  it('writes one file per UTC day, reads them back newest first with filters, and keeps a bounded number of records in memory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trail-'));
    let now = new Date('2026-11-25T23:59:58Z');
    const trail = new LocalTrail({ region: REGION, accountId: ACCOUNT, identities, dir, keep: 3, flushMs: 1, now: () => now });
    const { doc } = clientsFor(trail);
    await trail.invocation(GATEWAY, apiEvent, async () => {
      await doc.send(new PutCommand({ TableName: TASKS, Item: { pk: 'a', sk: '1' } }));
      now = new Date('2026-11-26T00:00:01Z');
      await doc.send(new PutCommand({ TableName: 'Other', Item: { pk: 'a', sk: '2' } }));
      await doc.send(new PutCommand({ TableName: TASKS, Item: { pk: 'a', sk: '3' } }));
    });
    await trail.stop();

    expect(readdirSync(dir).sort()).toEqual([`${ACCOUNT}_CloudTrail_${REGION}_20261125.jsonl`, `${ACCOUNT}_CloudTrail_${REGION}_20261126.jsonl`]);
    const all = await readTrailDir(dir, { limit: 10 });
    expect(all.map((e) => `${e.time} ${e.eventName}`)).toEqual([
      '2026-11-26T00:00:01Z PutItem',
      '2026-11-26T00:00:01Z PutItem',
      '2026-11-25T23:59:58Z PutItem',
      '2026-11-25T23:59:58Z Invoke',
    ]);
    expect(all[0]).toMatchObject({ principal: `arn:aws:sts::${ACCOUNT}:assumed-role/GatewayRole/${GATEWAY}`, principalType: 'AssumedRole', category: 'Data', readOnly: false });
    expect(await readTrailDir(dir, { limit: 10, resource: TASKS })).toHaveLength(2);
    expect(await readTrailDir(dir, { limit: 10, eventName: 'Invoke' })).toHaveLength(1);
    expect(await readTrailDir(dir, { limit: 10, until: new Date('2026-11-26T00:00:00Z') })).toHaveLength(2);
    expect(await readTrailDir(dir, { limit: 1 })).toHaveLength(1);
    expect(await readTrailDir(join(dir, 'none'), { limit: 1 })).toEqual([]);
    expect(trail.records()).toHaveLength(3);
    expect(trail.lookup({ limit: 10 })).toHaveLength(3);
    expect(trail.stats()).toMatchObject({ recorded: 4, written: 4, dropped: 0 });
  });

  it("reads each function's execution role from the templates", () => {
    const stacks = [
      {
        stackName: 'Switchboard-Stateless',
        template: {
          Resources: {
            GatewayRoleA1: { Type: 'AWS::IAM::Role', Properties: {} },
            Gateway: { Type: 'AWS::Lambda::Function', Properties: { Role: { 'Fn::GetAtt': ['GatewayRoleA1', 'Arn'] } } },
          },
        },
      },
    ] as unknown as SynthesizedStack[];
    const found = trailIdentitiesOf(stacks, ACCOUNT);
    expect(found.functionRoles.get('Switchboard-Stateless-Gateway')).toEqual({
      name: 'Switchboard-Stateless-GatewayRoleA1',
      arn: `arn:aws:iam::${ACCOUNT}:role/Switchboard-Stateless-GatewayRoleA1`,
      id: 'AROASWITCHBOARDSTATEL',
    });
  });
});
