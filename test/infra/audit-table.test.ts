import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { describe, expect, it } from 'vitest';
import { AuditTable } from '../../lib/constructs/audit-table';

const synth = (removalPolicy: RemovalPolicy) => {
  const stack = new Stack(new App(), 'S');
  const audit = new AuditTable(stack, 'Audit', { encryptionKey: new Key(stack, 'K'), removalPolicy });
  const writer = new Role(stack, 'Writer', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  const reader = new Role(stack, 'Reader', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  audit.grantAppend(writer);
  audit.grantRead(reader);
  return Template.fromStack(stack);
};
const actionsOf = (template: Template, role: string): string[] =>
  Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p['Properties'].Roles).includes(role))
    .flatMap((p) => p['Properties'].PolicyDocument.Statement.flatMap((s: { Action: string | string[] }) => [s.Action].flat()));

describe('AuditTable', () => {
  it('keys pk/sk, on-demand, KMS customer key, PITR, no TTL, deletion protection and retention when retained', () => {
    const template = synth(RemovalPolicy.RETAIN);
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
        BillingMode: 'PAY_PER_REQUEST',
        SSESpecification: Match.objectLike({ SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() }),
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
        TimeToLiveSpecification: Match.absent(),
        GlobalSecondaryIndexes: Match.absent(),
      }),
    });
    synth(RemovalPolicy.DESTROY).hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: false });
  });

  it('grants writers append only (no update, no delete) and readers read only', () => {
    const template = synth(RemovalPolicy.DESTROY);
    const writer = actionsOf(template, 'Writer');
    expect(writer).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:Query']));
    expect(writer.filter((a) => /dynamodb:(Update|Delete|BatchWrite|\*)/.test(a))).toEqual([]);
    const reader = actionsOf(template, 'Reader');
    expect(reader.filter((a) => a.startsWith('dynamodb:')).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
    expect(reader.filter((a) => /kms:(Encrypt|GenerateDataKey)/.test(a))).toEqual([]);
  });

  it('refuses SNAPSHOT, which DynamoDB tables do not support', () => {
    const stack = new Stack(new App(), 'S');
    expect(() => new AuditTable(stack, 'Audit', { encryptionKey: new Key(stack, 'K'), removalPolicy: RemovalPolicy.SNAPSHOT })).toThrow(/SNAPSHOT/);
  });
});
