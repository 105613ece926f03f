import { Aws, CfnResource, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Metadata key naming the handler source of a function, so the local cloud can run the same code. */
export const ENTRY_METADATA = 'switchboard:entry';

export interface SwitchboardFunctionProps {
  /** Handler source, relative to the project root, e.g. `lambdas/worker/handler.ts`. */
  entry: string;
  description: string;
  timeout?: Duration;
  memorySize?: number;
  environment?: Record<string, string>;
  removalPolicy?: RemovalPolicy;
  /**
   * Cedar access policies the function evaluates: this folder is shipped as `<bundle>/<to>`, and
   * cedar-wasm's `cedar_wasm_bg.wasm` beside the bundled JS (where its nodejs build reads it).
   */
  accessPolicies?: { from: string; to: string };
  /** Encrypts the function's log group with this key (its policy then lets CloudWatch Logs of this account and region use it). */
  logEncryptionKey?: IKey;
}

/**
 * Lets CloudWatch Logs use `key` for this account's log groups in this region: without it, a log
 * group naming the key fails to create. CloudFormation renders an identical statement once.
 */
export const letLogsUse = (key: IKey): void => {
  key.addToResourcePolicy(
    new PolicyStatement({
      principals: [new ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*` } },
    }),
  );
};

/** The .wasm of cedar-wasm's nodejs build (it reads `${__dirname}/cedar_wasm_bg.wasm`). */
const cedarWasm = (): string => join(dirname(createRequire(import.meta.url).resolve('@cedar-policy/cedar-wasm/nodejs')), 'cedar_wasm_bg.wasm');
const shellQuote = (path: string) => `'${path.replace(/'/g, `'\\''`)}'`;

/**
 * A Lambda function with Switchboard's defaults: Node.js 24 on arm64, bundled by local esbuild
 * (no Docker), X-Ray tracing, JSON logs into a log group with a retention, source maps on.
 */
export class SwitchboardFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: SwitchboardFunctionProps) {
    const entry = join(PROJECT_ROOT, props.entry);
    if (!existsSync(entry)) throw new Error(`SwitchboardFunction ${id}: entry ${props.entry} does not exist`);
    const timeout = props.timeout ?? Duration.seconds(10);
    if (timeout.toSeconds() > 900) throw new Error(`SwitchboardFunction ${id}: timeout above 15 minutes`);
    const policies = props.accessPolicies;
    if (policies && !existsSync(policies.from)) throw new Error(`SwitchboardFunction ${id}: access policies folder ${policies.from} does not exist`);
    if (props.logEncryptionKey) letLogsUse(props.logEncryptionKey);
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      ...(props.logEncryptionKey ? { encryptionKey: props.logEncryptionKey } : {}),
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    super(scope, id, {
      entry,
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout,
      tracing: Tracing.ACTIVE,
      loggingFormat: LoggingFormat.JSON,
      logGroup,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.CJS,
        minify: true,
        sourceMap: true,
        target: 'node24',
        forceDockerBundling: false,
        ...(policies
          ? {
              commandHooks: {
                beforeBundling: () => [],
                beforeInstall: () => [],
                afterBundling: (_inputDir: string, outputDir: string) => [
                  `mkdir -p ${shellQuote(join(outputDir, policies.to))}`,
                  `cp -R ${shellQuote(policies.from)}/. ${shellQuote(join(outputDir, policies.to))}`,
                  `cp ${shellQuote(cedarWasm())} ${shellQuote(join(outputDir, 'cedar_wasm_bg.wasm'))}`,
                ],
              },
            }
          : {}),
      },
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      projectRoot: PROJECT_ROOT,
    });
    (this.node.defaultChild as CfnResource).addMetadata(ENTRY_METADATA, props.entry);
  }
}
