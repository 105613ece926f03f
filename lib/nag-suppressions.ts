import { CfnResource, Stack } from 'aws-cdk-lib';
import { NagSuppressions } from './nag';
import type { Construct } from 'constructs';

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
        'The digest writer puts audit digests under digests/ of the Object Lock digest bucket, one new object per digest (digests/<tenant>/<toSeq>.json); s3:PutObject only, and the bucket\'s compliance lock forbids overwriting or deleting any of them.',
      appliesTo: [{ regex: '/^Resource::.*DigestBucket.*\\/digests\\/\\*$/g' }],
    },
    {
      id: 'AwsSolutions-IAM5',
      reason:
        'kms:GenerateDataKey* and kms:ReEncrypt* are CDK\'s grant for the platform key only (SQS and DynamoDB envelope encryption), scoped to that key\'s ARN.',
      appliesTo: ['Action::kms:GenerateDataKey*', 'Action::kms:ReEncrypt*'],
    },
  ]);
  acknowledgeCompliancePacks(stack);
};

/**
 * How each function is invoked and what bounds how many copies run: why it needs no asynchronous
 * dead-letter queue nor reserved concurrency. Keyed by the function's construct id; a function not
 * listed here gets no acknowledgement, so a new one fails the compliance test until it is described.
 */
const FUNCTIONS: Readonly<Record<string, { invokedBy: string; lostInvocation: string; bound: string }>> = {
  McpGateway: {
    invokedBy: 'synchronously by API Gateway (Lambda proxy integration)',
    lostInvocation: 'a failed call is an HTTP error the MCP client sees and retries',
    bound: 'the API stage throttle (rate and burst), the per-tenant usage plans and the WAF rate rule cap the requests that reach it',
  },
  Authorizer: {
    invokedBy: 'synchronously by API Gateway (TOKEN authorizer)',
    lostInvocation: 'a failed call is a 401/500 answered to the client, nothing is left undone',
    bound: 'API Gateway caches its decision 5 minutes per token, behind the stage throttle and the WAF rate rule',
  },
  Worker: {
    invokedBy: 'synchronously by the SQS event source mappings of the priority queues',
    lostInvocation: 'a message that keeps failing goes to its queue\'s dead-letter queue by the redrive policy',
    bound: 'maxConcurrency on each priority queue\'s event source mapping (worker.concurrency) caps it',
  },
  DeadLetterHandler: {
    invokedBy: 'synchronously by the SQS event source mappings of the dead-letter queues',
    lostInvocation: 'a message it fails on stays in the dead-letter queue (14 days) and is received again',
    bound: 'maxConcurrency on each dead-letter queue\'s event source mapping caps it',
  },
  Reconciler: {
    invokedBy: 'asynchronously by the one-minute EventBridge schedule (2 retries)',
    lostInvocation: 'a lost tick leaves nothing behind: the next tick a minute later scans the same tasks (the reconciler is idempotent), so a queue of stale ticks would hold nothing worth replaying',
    bound: 'one schedule tick a minute, each finishing within its 60 s timeout, starts it',
  },
  WorkflowFunction: {
    invokedBy: 'synchronously by Step Functions (LambdaInvoke, RequestResponse)',
    lostInvocation: 'a failed invoke is retried by the state\'s Retry and then fails the run, which the task records',
    bound: 'only the workflow state machines invoke it, one step per running execution, and executions start only from accepted tasks under the per-tenant quotas',
  },
  HealthCheck: {
    invokedBy: 'synchronously by API Gateway (GET /healthz/deep, Lambda proxy integration behind the JWT authorizer)',
    lostInvocation: 'a failed call is an HTTP error the operator sees and retries; it changes nothing',
    bound: 'the API stage throttle, the usage plans and the WAF rate rule cap the requests that reach it, and only tokens with the operator role get past its first line',
  },
  PreToken: {
    invokedBy: 'synchronously by Cognito (pre token generation trigger)',
    lostInvocation: 'a failed call fails that sign-in, which the user retries',
    bound: 'Cognito\'s token issuance quota for the user pool caps the sign-ins that reach it',
  },
};

const NO_VPC =
  'it calls only AWS APIs (IAM-signed, TLS) and the configured connectors\' public HTTPS endpoints and owns no resource inside a VPC; the network boundary (SC-7) is API Gateway with WAF in front and IAM on every AWS call, and a VPC would add NAT egress without adding a control';
const INLINE_POLICY =
  'the statements are CDK grants computed from the resources this one role uses, versioned with the template (every change shows in the CloudFormation change set and the git history); a customer-managed policy would only add reuse by other roles, which least privilege (AC-6) does not want here';
/** The roles whose CDK grants are acknowledged: the functions', the workflow state machines', the tenant-scoped access role. */
const GRANTED_ROLES = new RegExp(`/(${Object.keys(FUNCTIONS).join('|')})/ServiceRole/|/StateMachine/Role/|/TenantScopedAccess/Role/`);

/** The acknowledgement of `rule` on `resource`, or undefined: then the finding stays and fails the test. */
type Acknowledge = (resource: CfnResource) => string | undefined;

const functionId = (resource: CfnResource): string | undefined => {
  const fn = resource.node.scope;
  return fn && Object.hasOwn(FUNCTIONS, fn.node.id) ? fn.node.id : undefined;
};
/** The function whose role (`<fn>/ServiceRole/DefaultPolicy`) or event source mapping this is. */
const ownerFunctionId = (resource: CfnResource): string | undefined =>
  resource.node.scopes.map((s) => s.node.id).find((id) => Object.hasOwn(FUNCTIONS, id));

const ACKNOWLEDGEMENTS: Readonly<Record<string, Readonly<Record<string, Acknowledge>>>> = {
  'AWS::Lambda::Function': {
    'Serverless-LambdaDLQ': (r) => {
      const f = functionId(r) && FUNCTIONS[functionId(r)!];
      return f && `${r.node.scope!.node.id} is invoked ${f.invokedBy}: ${f.lostInvocation}.`;
    },
    'NIST.800.53.R5-LambdaDLQ': (r) => ACKNOWLEDGEMENTS['AWS::Lambda::Function']!['Serverless-LambdaDLQ']!(r),
    'NIST.800.53.R5-LambdaConcurrency': (r) => {
      const f = functionId(r) && FUNCTIONS[functionId(r)!];
      return f && `Its concurrency is bounded upstream: ${f.bound}; a reservation would take from the account's unreserved pool (at least 100 must stay free) for no extra guarantee.`;
    },
    'NIST.800.53.R5-LambdaInsideVPC': (r) => (functionId(r) ? `Not in a VPC: ${NO_VPC}.` : undefined),
  },
  'AWS::Lambda::EventSourceMapping': {
    'Serverless-LambdaEventSourceMappingDestination': (r) => {
      const f = ownerFunctionId(r);
      return f && r.node.scope?.node.id.startsWith('SqsEventSource:')
        ? `An SQS event source mapping takes no on-failure destination (Lambda offers it for stream and Kafka sources only): ${FUNCTIONS[f]!.lostInvocation}.`
        : undefined;
    },
  },
  'AWS::SQS::Queue': {
    'Serverless-SQSRedrivePolicy': (r) => {
      const queue = r.node.scope!.node.id;
      return /^(Critical|High|Normal|Low)Dlq$/.test(queue)
        ? `This is the dead-letter queue of the ${queue.replace(/Dlq$/, '').toLowerCase()} priority queue: the DeadLetterHandler consumes it and a message it fails on stays here (14 days); a dead-letter queue of a dead-letter queue would only move the same message.`
        : undefined;
    },
  },
  'AWS::IAM::Policy': {
    'NIST.800.53.R5-IAMNoInlinePolicy': (r) => (r.node.scope?.node.id === 'DefaultPolicy' && GRANTED_ROLES.test(r.node.path) ? `The role's DefaultPolicy: ${INLINE_POLICY}.` : undefined),
  },
  'AWS::DynamoDB::Table': {
    // With config dr the Stateful stack's backup plan selects every table, and the rule passes.
    'NIST.800.53.R5-DynamoDBInBackupPlan': (r) =>
      Stack.of(r).node.tryFindChild('Backup')
        ? undefined
        : 'Config dr is absent, so no AWS Backup plan: point-in-time recovery (35 days, to the second) and deletion protection still are on (test/infra/disaster-recovery.test.ts); set dr for backups copied to the DR region (docs/disaster-recovery.md).',
  },
  'AWS::Events::Rule': {
    'Serverless-EventBusDLQ': (r) =>
      r.node.scope?.node.id === 'ReconcileSchedule' ? `The target is the Reconciler, ${FUNCTIONS['Reconciler']!.lostInvocation}.` : undefined,
  },
  'AWS::ApiGateway::Stage': {
    'NIST.800.53.R5-APIGWSSLEnabled': () =>
      'The stage\'s integrations are Lambda proxy and mock integrations, no HTTP backend: a client certificate authenticates API Gateway to an HTTP backend and has nothing to apply to (clients reach the stage over TLS only).',
    'NIST.800.53.R5-APIGWCacheEnabledAndEncrypted': () =>
      'The stage cache stays off: MCP is JSON-RPC over POST, per tenant and per token, and a cached answer would serve one caller\'s result to another; with no cache there is no cached data to encrypt.',
  },
};

/**
 * Per-resource acknowledgements of the Serverless and NIST 800-53 rev 5 findings that do not apply:
 * each names the resource's own reason (who invokes the function, whose dead-letter queue this is).
 */
const acknowledgeCompliancePacks = (stack: Stack): void => {
  for (const resource of stack.node.findAll()) {
    if (!CfnResource.isCfnResource(resource) || Stack.of(resource) !== stack) continue;
    const rules = ACKNOWLEDGEMENTS[resource.cfnResourceType] ?? {};
    const suppressions = Object.entries(rules).flatMap(([id, acknowledge]) => {
      const reason = acknowledge(resource);
      return reason ? [{ id, reason }] : [];
    });
    if (suppressions.length) NagSuppressions.addResourceSuppressions(resource, suppressions);
  }
};

/**
 * The audit trail's acknowledgements (lib/constructs/audit-trail.ts), on its resources only.
 * Their objects are locked in COMPLIANCE mode: nobody, root included, deletes or overwrites them
 * before the retention ends; with config dr the trail and digest buckets replicate to the DR region (replication role acknowledged below).
 */
export const acknowledgeAuditTrail = (audit: { accessLogBucket: Construct; trailBucket: Construct; digestBucket: Construct; trail: Construct; replicationRole?: Construct | undefined }): void => {
  NagSuppressions.addResourceSuppressions(audit.trail.node.findChild('LogsRole').node.findChild('DefaultPolicy'), [
    {
      id: 'NIST.800.53.R5-IAMNoInlinePolicy',
      reason:
        'CDK\'s Trail gives CloudTrail\'s delivery role its one statement inline (logs:CreateLogStream and logs:PutLogEvents on the trail\'s own log group); it belongs to that role alone and goes with it.',
    },
  ], true);
  if (!audit.replicationRole) {
    const replication = {
      id: 'NIST.800.53.R5-S3BucketReplicationEnabled',
      reason:
        'Config dr is absent, so there is no DR region to replicate to; Object Lock (COMPLIANCE) keeps every version undeletable for the retention and the trail is multi-region (set dr: docs/disaster-recovery.md).',
    };
    for (const bucket of [audit.trailBucket, audit.digestBucket]) NagSuppressions.addResourceSuppressions(bucket, [replication]);
  } else acknowledgeReplicationRole(audit.replicationRole);
  NagSuppressions.addResourceSuppressions(audit.accessLogBucket, [
    ACCESS_LOGS_NOT_REPLICATED,
    {
      id: 'NIST.800.53.R5-S3DefaultEncryptionKMS',
      reason: 'S3 server access logs can only be delivered to a bucket encrypted with SSE-S3 (AES-256); a KMS default encryption makes delivery fail.',
    },
  ]);
};

const ACCESS_LOGS_NOT_REPLICATED = {
  id: 'NIST.800.53.R5-S3BucketReplicationEnabled',
  reason:
    'Server access logs of the audit buckets (who read or wrote them), not audit records: the trail and digest buckets are the records, and with config dr those replicate to the DR region; the access logs stay in their region (docs/disaster-recovery.md, not covered).',
};

/** The S3 replication role of the audit buckets: its grants, acknowledged on that role's policy only. */
const acknowledgeReplicationRole = (role: Construct): void => {
  NagSuppressions.addResourceSuppressions(role.node.findChild('DefaultPolicy'), [
    {
      id: 'AwsSolutions-IAM5',
      reason:
        'S3 replication reads every new object version (and its Object Lock retention) of the trail and digest buckets, and writes its replica under the same key in the DR bucket: object ARNs of exactly those four buckets, each action the replication role needs and no other.',
      appliesTo: [{ regex: '/^Resource::(<Audit(Trail|Digest)Bucket[0-9A-F]{8}\\.Arn>|arn:<AWS::Partition>:s3:::[a-z0-9-]+-dr-(trail|digests)-<AWS::AccountId>)\\/\\*$/g' }],
    },
    {
      id: 'AwsSolutions-IAM5',
      reason:
        'The DR region\'s replica key is in another stack and region, so its key id is unknown here: kms:Encrypt and kms:GenerateDataKey on that region\'s keys only with the alias alias/<app>-DR/audit-replica (kms:ResourceAliases) and only through S3 there (kms:ViaService).',
      appliesTo: [{ regex: '/^Resource::arn:(aws|<AWS::Partition>):kms:[a-z0-9-]+:<AWS::AccountId>:key\\/\\*$/g' }],
    },
    { id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: `The replication role's DefaultPolicy: ${INLINE_POLICY}.` },
  ]);
};

const LOOKUP_FUNCTION =
  'CDK\'s AwsCustomResource function that reads each multi-region data key\'s ARN from its alias in the primary region (kms:DescribeKey) while the DR stack deploys';

/**
 * The DR stack's acknowledgements (lib/stacks/dr-stack.ts), on its resources only: the deploy-time
 * key lookup's function and policies, and the buckets that are themselves the replicas.
 */
export const acknowledgeDisasterRecovery = (stack: Stack): void => {
  for (const resource of stack.node.findAll()) {
    if (!CfnResource.isCfnResource(resource)) continue;
    const path = resource.node.path;
    if (resource.cfnResourceType === 'AWS::Lambda::Function' && /\/AWS[0-9a-f]{32}\/Resource$/.test(path)) {
      NagSuppressions.addResourceSuppressions(resource, [
        { id: 'Serverless-LambdaDefaultMemorySize', reason: `${LOOKUP_FUNCTION}: one small API call per deploy, CDK's own sizing.` },
        { id: 'Serverless-LambdaTracing', reason: `${LOOKUP_FUNCTION}: runs once per deploy inside CloudFormation, whose events and CloudTrail record the call.` },
        { id: 'Serverless-LambdaDLQ', reason: `${LOOKUP_FUNCTION}: CloudFormation invokes it and a failure fails (and rolls back) the deploy; nothing is left to replay.` },
        { id: 'NIST.800.53.R5-LambdaDLQ', reason: `${LOOKUP_FUNCTION}: CloudFormation invokes it and a failure fails (and rolls back) the deploy; nothing is left to replay.` },
        { id: 'NIST.800.53.R5-LambdaConcurrency', reason: `${LOOKUP_FUNCTION}: one invocation per data key per deploy, started by CloudFormation only.` },
        { id: 'NIST.800.53.R5-LambdaInsideVPC', reason: `${LOOKUP_FUNCTION}: it calls the KMS API only (IAM-signed, TLS) and owns nothing in a VPC.` },
      ]);
    }
    if (resource.cfnResourceType === 'AWS::IAM::Policy' && path.endsWith('/CustomResourcePolicy/Resource')) {
      NagSuppressions.addResourceSuppressions(resource, [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'The primary data key\'s id is what the lookup finds out: kms:DescribeKey on the primary region\'s keys only where the key carries that level\'s alias (kms:ResourceAliases), nothing else.',
          appliesTo: [{ regex: '/^Resource::arn:(aws|<AWS::Partition>):kms:[a-z0-9-]+:<AWS::AccountId>:key\\/\\*$/g' }],
        },
        { id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: `The key lookup's policy: ${INLINE_POLICY}.` },
      ]);
    }
  }
  const dr = stack as Stack & { trailBucket?: Construct; digestBucket?: Construct; accessLogBucket?: Construct };
  for (const bucket of [dr.trailBucket, dr.digestBucket]) {
    if (bucket) {
      NagSuppressions.addResourceSuppressions(bucket, [
        {
          id: 'NIST.800.53.R5-S3BucketReplicationEnabled',
          reason: 'This bucket is the replica: the primary region\'s audit bucket replicates into it (Object Lock COMPLIANCE here too); a replica of the replica would only add a third region.',
        },
      ]);
    }
  }
  if (dr.accessLogBucket) {
    NagSuppressions.addResourceSuppressions(dr.accessLogBucket, [
      ACCESS_LOGS_NOT_REPLICATED,
      {
        id: 'NIST.800.53.R5-S3DefaultEncryptionKMS',
        reason: 'S3 server access logs can only be delivered to a bucket encrypted with SSE-S3 (AES-256); a KMS default encryption makes delivery fail.',
      },
    ]);
  }
};

/** The tables' backup plan (lib/constructs/backup.ts): AWS Backup's service role. */
export const acknowledgeBackup = (backup: { selection: Construct }): void => {
  NagSuppressions.addResourceSuppressions(backup.selection.node.findChild('Role'), [
    {
      id: 'AwsSolutions-IAM4',
      reason:
        'AWS Backup\'s service role for the plan\'s selection: AWSBackupServiceRolePolicyForBackup and ...ForRestores are the AWS-maintained policies AWS Backup documents for backing up and restoring DynamoDB (and copying to the DR vault); they follow new service requirements without our changes.',
      appliesTo: [
        'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup',
        'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores',
      ],
    },
  ]);
};
