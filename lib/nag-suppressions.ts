import type { Stack } from 'aws-cdk-lib';
import { NagSuppressions } from './nag';

/**
 * Stack-wide cdk-nag acknowledgements. Each names exactly the finding it covers (`appliesTo`)
 * and why it is acceptable; anything else still fails the nag test.
 */
export const applyNagSuppressions = (stack: Stack): void => {
  NagSuppressions.addStackSuppressions(stack, [
    {
      id: 'AwsSolutions-IAM4',
      reason:
        'AWSLambdaBasicExecutionRole only allows writing the function\'s own CloudWatch logs; it is the AWS-maintained minimum for Lambda.',
      appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
    },
    {
      id: 'AwsSolutions-IAM5',
      reason:
        'Resource::* is only on xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing), which support no resource-level permissions.',
      appliesTo: ['Resource::*'],
    },
    {
      id: 'AwsSolutions-IAM5',
      reason: 'The functions query the tasks table\'s own global secondary indexes (byCreated, byStatus, dispatchPending).',
      appliesTo: [{ regex: '/^Resource::.*TasksTable[0-9A-F]{8}.*Arn.*\\/index\\/\\*$/g' }],
    },
    {
      id: 'AwsSolutions-IAM5',
      reason:
        'kms:GenerateDataKey* and kms:ReEncrypt* are CDK\'s grant for the platform key only (SQS and DynamoDB envelope encryption), scoped to that key\'s ARN.',
      appliesTo: ['Action::kms:GenerateDataKey*', 'Action::kms:ReEncrypt*'],
    },
  ]);
};
