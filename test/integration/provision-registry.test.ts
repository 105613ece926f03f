import { ListTablesCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulators, type Emulators } from '../../bin/local-cloud/emulators';
import { provision } from '../../bin/local-cloud/provision';
import { NOT_NEEDED_LOCALLY, RESOURCE_HANDLERS } from '../../bin/local-cloud/resources/registry';
import { readProjectConfig, synthesizeTemplates, type SynthesizedStack } from '../../bin/local-cloud/synth';

const config = readProjectConfig();
let stacks: SynthesizedStack[];
let emulators: Emulators;

beforeAll(async () => {
  stacks = synthesizeTemplates(config);
  emulators = await startEmulators({ region: config.primaryRegion });
});
afterAll(() => emulators?.stop());

const typesOf = (templates: readonly SynthesizedStack[]) =>
  new Set(templates.flatMap(({ template }) => Object.values(template.Resources).map((r) => r.Type)));

describe('the local cloud\'s resource registry', () => {
  it('refuses a resource type it cannot run, by type, stack and logical id, before touching the emulators', async () => {
    const withTopic = stacks.map((stack) =>
      stack.stackName === 'Switchboard-Messaging'
        ? { ...stack, template: { ...stack.template, Resources: { ...stack.template.Resources, AlertsTopic: { Type: 'AWS::SNS::Topic' } } } }
        : stack,
    );

    const provisioning = provision(withTopic, emulators.aws, config.primaryRegion, () => undefined);

    await expect(provisioning).rejects.toThrow(
      'local cloud: Switchboard-Messaging/AlertsTopic has type AWS::SNS::Topic, which npm start cannot run',
    );
    const { TableNames } = await new DynamoDBClient(emulators.aws.dynamodb!).send(new ListTablesCommand({}));
    const { QueueUrls } = await new SQSClient(emulators.aws.sqs!).send(new ListQueuesCommand({}));
    expect({ tables: TableNames ?? [], queues: QueueUrls ?? [] }).toEqual({ tables: [], queues: [] });
  });

  it('handles, or lists as not needed, every type the synthesized templates contain', () => {
    const unaccounted = [...typesOf(stacks)].filter((type) => !RESOURCE_HANDLERS.has(type) && !(type in NOT_NEEDED_LOCALLY));

    expect(unaccounted).toEqual([]);
  });

  it('lists as not needed only types the templates contain, none also handled, each with a reason', () => {
    const types = typesOf(stacks);

    for (const [type, reason] of Object.entries(NOT_NEEDED_LOCALLY)) {
      expect({ type, inTemplates: types.has(type), handled: RESOURCE_HANDLERS.has(type) }).toEqual({ type, inTemplates: true, handled: false });
      expect(reason.length, type).toBeGreaterThan(20);
    }
  });
});
