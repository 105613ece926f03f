import { apiGatewayAuthorizer } from './api-gateway-authorizer';
import { apiGatewayGatewayResponse } from './api-gateway-gateway-response';
import { apiGatewayMethod } from './api-gateway-method';
import { apiGatewayResource } from './api-gateway-resource';
import { apiGatewayRestApi } from './api-gateway-rest-api';
import { apiGatewayApiKey, apiGatewayUsagePlan, apiGatewayUsagePlanKey } from './api-gateway-usage-plan';
import { dynamodbTable } from './dynamodb-table';
import { eventsRule } from './events-rule';
import { iamRole } from './iam-role';
import { kmsKey } from './kms-key';
import { lambdaEventSourceMapping } from './lambda-event-source-mapping';
import { lambdaFunction } from './lambda-function';
import { PHASES, type ResourceHandler, type TemplateResource } from './resource-handler';
import { sqsQueue } from './sqs-queue';
import { stepFunctionsStateMachine } from './step-functions-state-machine';

/**
 * `AWS::DynamoDB::GlobalTable` (config dr.replicas: the tables with a replica in the DR region) → the same
 * dynalite table as `AWS::DynamoDB::Table`: the properties the emulator needs (keys, indexes) are spelled alike;
 * the replica itself is not emulated (one region locally).
 */
const dynamodbGlobalTable: ResourceHandler = { ...dynamodbTable, type: 'AWS::DynamoDB::GlobalTable' };

/** Every CloudFormation type the local cloud runs; within a phase, `provision` runs in this order. */
const HANDLERS: readonly ResourceHandler[] = [
  dynamodbTable,
  dynamodbGlobalTable,
  sqsQueue,
  kmsKey,
  iamRole,
  lambdaFunction,
  apiGatewayRestApi,
  apiGatewayResource,
  apiGatewayAuthorizer,
  apiGatewayMethod,
  apiGatewayGatewayResponse,
  apiGatewayUsagePlan,
  apiGatewayApiKey,
  apiGatewayUsagePlanKey,
  lambdaEventSourceMapping,
  eventsRule,
  stepFunctionsStateMachine,
];

export const RESOURCE_HANDLERS: ReadonlyMap<string, ResourceHandler> = new Map(HANDLERS.map((h) => [h.type, h]));
if (RESOURCE_HANDLERS.size !== HANDLERS.length) throw new Error('local cloud: two resource handlers for one type');

/** The handlers that create or collect something, in the order they run. */
export const PROVISION_ORDER: readonly ResourceHandler[] = PHASES.flatMap((phase) => HANDLERS.filter((h) => h.phase === phase));

const LOCAL_IDP =
  'the local OpenID provider (bin/local-cloud/identity-provider.ts) stands in for the Cognito user pool; npm start drops auth.cognito, and a synth that keeps it (integration tests) needs nothing of the pool locally';

/**
 * The types the templates contain that need nothing locally, each with the reason. They still
 * get a local name and ARN (`defaultIdentity`), so references to them resolve.
 */
export const NOT_NEEDED_LOCALLY: Readonly<Record<string, string>> = {
  'AWS::Cognito::UserPool': LOCAL_IDP,
  'AWS::Cognito::UserPoolGroup': LOCAL_IDP,
  'AWS::Cognito::UserPoolResourceServer': LOCAL_IDP,
  'AWS::Cognito::UserPoolDomain': LOCAL_IDP,
  'AWS::Cognito::UserPoolClient': LOCAL_IDP,
  'AWS::VerifiedPermissions::PolicyStore': 'the gateway evaluates the same Cedar files in-process (cedar-wasm), locally and on AWS; the store is a copy for teams that manage policies there',
  'AWS::VerifiedPermissions::Policy': 'the gateway evaluates the same Cedar files in-process (cedar-wasm), locally and on AWS; the store is a copy for teams that manage policies there',
  'AWS::KMS::Alias': 'nothing resolves an alias locally: the functions get key ARNs (DATA_KEY_ARN_<LEVEL>), and the local envelope adapter derives its keys from a local key file',
  'AWS::IAM::Policy': 'functions run in-process with the emulators\' credentials, and the emulators enforce no IAM',
  'AWS::Lambda::Permission': 'the local API Gateway, queue pollers and schedule timers invoke functions directly; no resource policy is checked',
  'AWS::Logs::LogGroup': 'functions and the local API Gateway log to the console',
  'AWS::SQS::QueuePolicy': 'the SQS emulator enforces no queue policy (today\'s only deny requests without TLS)',
  'AWS::ApiGateway::Deployment': 'the local API Gateway serves the methods of the template as they are; there is nothing to deploy',
  'AWS::ApiGateway::Stage':
    'the local API Gateway has one stage (v1) built in; stage throttling, access logs and tracing are not emulated',
  'AWS::ApiGateway::RequestValidator':
    'parameters are not validated locally; the one required today, the Authorization header, is checked by the local TOKEN authorizer step, which answers its absence with the same 401',
  'AWS::WAFv2::WebACL':
    'the local API Gateway has no WAF; per-tenant limits hold locally all the same, in the DynamoDB quota items the gateway writes',
  'AWS::WAFv2::WebACLAssociation': 'the local API Gateway has no WAF (see AWS::WAFv2::WebACL)',
  'AWS::WAFv2::LoggingConfiguration': 'the local API Gateway has no WAF, so nothing to log (see AWS::WAFv2::WebACL)',
  'AWS::S3::Bucket':
    'only the audit stack has buckets (CloudTrail logs, signed audit digests, their access logs); locally nothing writes them: the local audit table keeps the chain and its signed digests (DIGEST# items, signed with the local key file)',
  'AWS::S3::BucketPolicy': 'no local bucket exists (see AWS::S3::Bucket); the policies only deny requests without TLS and let CloudTrail deliver',
  'AWS::CloudTrail::Trail':
    'no CloudTrail locally: bin/local-cloud/trail.ts records the local cloud\'s calls and invocations in CloudTrail\'s record format, which `npm run -s audit -- trail` reads',
  'AWS::CloudWatch::Alarm': 'no CloudWatch locally: metrics (EMF) are off under npm start, and GET /healthz?deep=1 answers what an operator would look at (docs/operations.md)',
  'AWS::CloudWatch::Dashboard': 'no CloudWatch locally (see AWS::CloudWatch::Alarm)',
  'AWS::Logs::MetricFilter': 'functions log to the console locally, no log group to filter (see AWS::CloudWatch::Alarm)',
  'AWS::SNS::Topic': 'only the alarms publish to a topic, and there are no alarms locally (see AWS::CloudWatch::Alarm)',
  'AWS::SNS::TopicPolicy': 'no local topic (see AWS::SNS::Topic); the policy only denies publishing without TLS',
  'AWS::SNS::Subscription': 'no local topic (see AWS::SNS::Topic)',
  'AWS::Backup::BackupVault':
    'no AWS Backup locally (backup and DR: docs/disaster-recovery.md): the local state is the data folder (.switchboard/), one region, nothing copied elsewhere',
  'AWS::Backup::BackupPlan': 'no AWS Backup locally (see AWS::Backup::BackupVault): nothing runs the schedule or the copies to the DR region',
  'AWS::Backup::BackupSelection': 'no AWS Backup locally (see AWS::Backup::BackupVault): nothing is selected',
  'AWS::CloudTrail::EventDataStore': 'no CloudTrail Lake locally: the audit CLI queries the local audit store with the same output format (see AWS::CloudTrail::Trail)',
};

/** A template holds a resource the local cloud can neither run nor safely leave out. */
export class UnsupportedResourceTypeError extends Error {
  override name = 'UnsupportedResourceTypeError';

  constructor(readonly resources: readonly TemplateResource[]) {
    super(
      resources
        .map(
          ({ stackName, id, resource }) =>
            `local cloud: ${stackName}/${id} has type ${resource.Type}, which npm start cannot run; ` +
            'add bin/local-cloud/resources/<module> or list it in NOT_NEEDED_LOCALLY with the reason',
        )
        .join('\n'),
    );
  }
}

/** Fails, naming each one, when any resource has a type that is neither handled nor listed as not needed. */
export const assertRunnableLocally = (resources: readonly TemplateResource[]): void => {
  const unsupported = resources.filter(
    ({ resource }) => !RESOURCE_HANDLERS.has(resource.Type) && !Object.hasOwn(NOT_NEEDED_LOCALLY, resource.Type),
  );
  if (unsupported.length) throw new UnsupportedResourceTypeError(unsupported);
};
