import { Aws } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { ENV, secretNamesOf, type Connectors } from '../../lambdas/contracts';
import { NagSuppressions } from '../nag';

/** Lambda's environment holds 4 KB in all: the connectors may take this much of it. */
export const MAX_CONNECTORS_ENV_BYTES = 3_072;

/**
 * Lets `fn` run the deployment's connectors: their configuration in CONNECTORS, read access to
 * exactly the secrets they name (Secrets Manager, `<name>-??????`), and Bedrock InvokeModel on
 * exactly the LLM steps' models (foundation models and inference profiles of that id).
 */
export const bindConnectors = (fn: LambdaFunction, connectors: Connectors): void => {
  if (!connectors.mcpServers.length && !connectors.http.length && !connectors.llm.length) return;
  const json = JSON.stringify(connectors);
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_CONNECTORS_ENV_BYTES) {
    throw new Error(
      `connectors: ${bytes} bytes of configuration, more than the ${MAX_CONNECTORS_ENV_BYTES} a function's environment can hold; ` +
        'shorten the OpenAPI documents to the allow-listed operations',
    );
  }
  fn.addEnvironment(ENV.connectors, json);
  const secrets = secretNamesOf(connectors);
  if (secrets.length) {
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: secrets.map((name) => `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${name}-??????`),
      }),
    );
  }
  NagSuppressions.addResourceSuppressions(
    fn,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Secrets Manager ARNs end in a random 6-character suffix (secret:<name>-??????), and a cross-region inference profile routes to the model in any region (foundation-model in region *): both are scoped to the named secrets and models.',
        appliesTo: [{ regex: '/^Resource::arn:.*:secretsmanager:.*:secret:.*-\\?\\?\\?\\?\\?\\?$/g' }, { regex: '/^Resource::arn:.*:bedrock:\\*::foundation-model\\/.*$/g' }],
      },
    ],
    true,
  );
  const models = [...new Set(connectors.llm.map((llm) => llm.modelId))];
  if (models.length) {
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['bedrock:InvokeModel'],
        resources: models.flatMap((id) => [
          `arn:${Aws.PARTITION}:bedrock:*::foundation-model/${id.replace(/^(us|eu|apac|global)\./, '')}`,
          `arn:${Aws.PARTITION}:bedrock:${Aws.REGION}:${Aws.ACCOUNT_ID}:inference-profile/${id}`,
        ]),
      }),
    );
  }
};
