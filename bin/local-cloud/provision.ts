import {
  CreateTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createHash } from 'node:crypto';
import type { AwsClientConfig } from '../../lambdas/adapters/runtime';
import { ENTRY_METADATA } from '../../lib/constructs/switchboard-function';
import { TemplateResolver } from './resolver';
import type { CfnResource, SynthesizedStack } from './synth';

export const LOCAL_ACCOUNT = '000000000000';

export interface LocalFunction {
  name: string;
  entry: string;
  environment: Record<string, string>;
  timeoutMs: number;
}
export interface LocalRoute {
  path: string;
  method: string;
  functionName: string;
  authorizer?: { functionName: string; identityHeader: string; validation?: RegExp };
}
export interface LocalGatewayResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}
export interface LocalEventSource {
  queueUrl: string;
  queueArn: string;
  functionName: string;
  batchSize: number;
  reportBatchItemFailures: boolean;
}
export interface LocalSchedule {
  rateMs: number;
  functionNames: string[];
}
export interface LocalPlatform {
  functions: Map<string, LocalFunction>;
  routes: LocalRoute[];
  gatewayResponses: Map<string, LocalGatewayResponse>;
  eventSources: LocalEventSource[];
  schedules: LocalSchedule[];
  tables: string[];
  queues: Map<string, string>;
}

type Entry = { stackName: string; id: string; resource: CfnResource };

const shortHash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 8);
const physicalName = (stackName: string, id: string) => `${stackName}-${id}`;
const queueName = (stackName: string, id: string, fifo: boolean) =>
  fifo ? `${physicalName(stackName, id).slice(0, 70)}.fifo` : physicalName(stackName, id).slice(0, 80);
const props = (entry: Entry) => entry.resource.Properties ?? {};

/**
 * Creates, in the emulators, the tables and queues the synthesized templates declare, and reads
 * the functions, routes, authorizers, gateway responses, event sources and schedules from them.
 */
export const provision = async (
  stacks: readonly SynthesizedStack[],
  aws: AwsClientConfig,
  region: string,
  log: (message: string) => void,
): Promise<LocalPlatform> => {
  const resolver = new TemplateResolver(stacks, { region, accountId: LOCAL_ACCOUNT });
  const entries: Entry[] = stacks.flatMap(({ stackName, template }) =>
    Object.entries(template.Resources).map(([id, resource]) => ({ stackName, id, resource })),
  );
  const arn = (service: string, resource: string) => `arn:aws:${service}:${region}:${LOCAL_ACCOUNT}:${resource}`;

  // Pass 1: give every resource its local identity, so references resolve in any order.
  for (const entry of entries) {
    const { stackName, id, resource } = entry;
    const name = physicalName(stackName, id);
    switch (resource.Type) {
      case 'AWS::DynamoDB::Table':
        resolver.define(stackName, id, { ref: name, attributes: { Arn: arn('dynamodb', `table/${name}`) } });
        break;
      case 'AWS::SQS::Queue': {
        const qName = queueName(stackName, id, props(entry)['FifoQueue'] === true);
        const url = `${aws.sqs?.endpoint}/${LOCAL_ACCOUNT}/${qName}`;
        resolver.define(stackName, id, { ref: url, attributes: { Arn: arn('sqs', qName), QueueName: qName, QueueUrl: url } });
        break;
      }
      case 'AWS::Lambda::Function':
        resolver.define(stackName, id, { ref: name, attributes: { Arn: arn('lambda', `function:${name}`) } });
        break;
      case 'AWS::KMS::Key': {
        const keyId = `local-${shortHash(name)}`;
        resolver.define(stackName, id, { ref: keyId, attributes: { Arn: arn('kms', `key/${keyId}`), KeyId: keyId } });
        break;
      }
      case 'AWS::ApiGateway::RestApi':
        resolver.define(stackName, id, { ref: 'local', attributes: { RootResourceId: `${stackName}/${id}/root` } });
        break;
      default:
        resolver.define(stackName, id, { ref: name, attributes: { Arn: arn('local', name) } });
    }
  }

  const dynamodb = new DynamoDBClient(aws.dynamodb ?? {});
  const sqs = new SQSClient(aws.sqs ?? {});
  const platform: LocalPlatform = {
    functions: new Map(),
    routes: [],
    gatewayResponses: new Map(),
    eventSources: [],
    schedules: [],
    tables: [],
    queues: new Map(),
  };

  // Tables.
  for (const entry of entries.filter((e) => e.resource.Type === 'AWS::DynamoDB::Table')) {
    const p = resolver.resolve(entry.stackName, props(entry)) as Record<string, unknown>;
    const TableName = resolver.string(entry.stackName, { Ref: entry.id });
    const input = {
      TableName,
      AttributeDefinitions: p['AttributeDefinitions'],
      KeySchema: p['KeySchema'],
      BillingMode: 'PAY_PER_REQUEST',
      ...(p['GlobalSecondaryIndexes'] ? { GlobalSecondaryIndexes: p['GlobalSecondaryIndexes'] } : {}),
      ...(p['LocalSecondaryIndexes'] ? { LocalSecondaryIndexes: p['LocalSecondaryIndexes'] } : {}),
    } as CreateTableCommandInput;
    try {
      await dynamodb.send(new CreateTableCommand(input));
      log(`table ${TableName} created`);
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
      log(`table ${TableName} kept from the data folder`);
    }
    platform.tables.push(TableName);
  }

  // Queues: dead-letter queues (no redrive policy) first.
  const queues = entries
    .filter((e) => e.resource.Type === 'AWS::SQS::Queue')
    .sort((a, b) => Number('RedrivePolicy' in props(a)) - Number('RedrivePolicy' in props(b)));
  for (const entry of queues) {
    const p = resolver.resolve(entry.stackName, props(entry)) as Record<string, unknown>;
    const QueueName = resolver.string(entry.stackName, { 'Fn::GetAtt': [entry.id, 'QueueName'] });
    const attributes: Record<string, string> = {};
    for (const key of ['FifoQueue', 'ContentBasedDeduplication', 'VisibilityTimeout', 'MessageRetentionPeriod', 'DeduplicationScope', 'FifoThroughputLimit', 'DelaySeconds', 'ReceiveMessageWaitTimeSeconds']) {
      if (p[key] !== undefined) attributes[key] = String(p[key]);
    }
    if (p['RedrivePolicy']) attributes['RedrivePolicy'] = JSON.stringify(p['RedrivePolicy']);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName, Attributes: attributes }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    resolver.define(entry.stackName, entry.id, {
      ref: QueueUrl!,
      attributes: { Arn: Attributes!['QueueArn']!, QueueName, QueueUrl: QueueUrl! },
    });
    platform.queues.set(`${entry.stackName}/${entry.id}`, QueueUrl!);
  }
  if (queues.length) log(`${queues.length} queues ready`);

  // Functions: the handler source named in the template metadata, with the template's environment.
  for (const entry of entries.filter((e) => e.resource.Type === 'AWS::Lambda::Function')) {
    const source = entry.resource.Metadata?.[ENTRY_METADATA];
    if (typeof source !== 'string') continue; // CDK's own helper functions have no local counterpart
    const p = props(entry);
    const variables = ((p['Environment'] as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {});
    platform.functions.set(resolver.string(entry.stackName, { Ref: entry.id }), {
      name: resolver.string(entry.stackName, { Ref: entry.id }),
      entry: source,
      environment: Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, resolver.string(entry.stackName, v)])),
      timeoutMs: Number(p['Timeout'] ?? 3) * 1000,
    });
  }
  const functionNameOfArn = (value: string) => {
    const match = /function:([^/:]+)/.exec(value);
    if (!match || !platform.functions.has(match[1]!)) throw new Error(`local cloud: no local function for ${value}`);
    return match[1]!;
  };

  // API: resources → paths, methods → routes, authorizers, gateway responses.
  for (const { stackName } of stacks) {
    const inStack = entries.filter((e) => e.stackName === stackName);
    const paths = new Map<string, string>();
    const pathOf = (ref: string): string => {
      if (ref.endsWith('/root')) return '';
      const known = paths.get(ref);
      if (known !== undefined) return known;
      const resource = inStack.find((e) => physicalName(stackName, e.id) === ref);
      if (!resource) throw new Error(`local cloud: unknown API resource ${ref}`);
      const path = `${pathOf(resolver.string(stackName, props(resource)['ParentId']))}/${String(props(resource)['PathPart'])}`;
      paths.set(ref, path);
      return path;
    };
    for (const method of inStack.filter((e) => e.resource.Type === 'AWS::ApiGateway::Method')) {
      const p = props(method);
      const integration = p['Integration'] as { Type?: string; Uri?: unknown } | undefined;
      if (integration?.Type !== 'AWS_PROXY') continue;
      const resourceRef = resolver.string(stackName, p['ResourceId']);
      const route: LocalRoute = {
        path: pathOf(resourceRef) || '/',
        method: String(p['HttpMethod']),
        functionName: functionNameOfArn(resolver.string(stackName, integration.Uri)),
      };
      if (p['AuthorizationType'] === 'CUSTOM') {
        const authorizerId = (p['AuthorizerId'] as { Ref: string }).Ref;
        const authorizer = props(inStack.find((e) => e.id === authorizerId)!);
        if (authorizer['Type'] !== 'TOKEN') throw new Error('local cloud: only TOKEN authorizers are emulated');
        route.authorizer = {
          functionName: functionNameOfArn(resolver.string(stackName, authorizer['AuthorizerUri'])),
          identityHeader: String(authorizer['IdentitySource']).replace('method.request.header.', ''),
          ...(authorizer['IdentityValidationExpression']
            ? { validation: new RegExp(String(authorizer['IdentityValidationExpression'])) }
            : {}),
        };
      }
      platform.routes.push(route);
    }
    for (const response of inStack.filter((e) => e.resource.Type === 'AWS::ApiGateway::GatewayResponse')) {
      const p = props(response);
      const headers: Record<string, string> = {};
      for (const [key, value] of Object.entries((p['ResponseParameters'] ?? {}) as Record<string, string>)) {
        headers[key.replace('gatewayresponse.header.', '')] = value.replace(/^'|'$/g, '');
      }
      const templates = (p['ResponseTemplates'] ?? {}) as Record<string, string>;
      platform.gatewayResponses.set(String(p['ResponseType']), {
        statusCode: Number(p['StatusCode']),
        headers,
        body: templates['application/json'] ?? '',
      });
    }
  }

  // Event sources and schedules.
  for (const entry of entries.filter((e) => e.resource.Type === 'AWS::Lambda::EventSourceMapping')) {
    const p = props(entry);
    const queueArn = resolver.string(entry.stackName, p['EventSourceArn']);
    const queueUrl = [...platform.queues.values()].find((url) => url.endsWith(`/${queueArn.split(':').pop()}`));
    if (!queueUrl) throw new Error(`local cloud: event source ${queueArn} is not a local queue`);
    platform.eventSources.push({
      queueUrl,
      queueArn,
      functionName: resolver.string(entry.stackName, p['FunctionName']),
      batchSize: Number(p['BatchSize'] ?? 10),
      reportBatchItemFailures: ((p['FunctionResponseTypes'] as string[] | undefined) ?? []).includes('ReportBatchItemFailures'),
    });
  }
  for (const entry of entries.filter((e) => e.resource.Type === 'AWS::Events::Rule')) {
    const p = props(entry);
    const match = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(String(p['ScheduleExpression'] ?? ''));
    if (!match || p['State'] === 'DISABLED') continue;
    const unitMs = match[2]!.startsWith('minute') ? 60_000 : match[2]!.startsWith('hour') ? 3_600_000 : 86_400_000;
    platform.schedules.push({
      rateMs: Number(match[1]) * unitMs,
      functionNames: ((p['Targets'] ?? []) as { Arn: unknown }[]).map((t) => functionNameOfArn(resolver.string(entry.stackName, t.Arn))),
    });
  }
  return platform;
};
