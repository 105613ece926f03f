// cdk-nag is CommonJS whose exports Node's ESM loader cannot name: import it whole, once, here.
import cdkNag from 'cdk-nag';
import { Aspects, type App } from 'aws-cdk-lib';

export const { NagSuppressions, AwsSolutionsChecks, ServerlessChecks, NIST80053R5Checks, NagReportFormat } = cdkNag;
export type NagPackSuppression = import('cdk-nag').NagPackSuppression;

/**
 * The compliance packs the app is held to, by the name cdk-nag gives each (the prefix of its rule
 * ids and of its report file): AWS Solutions, Serverless, NIST 800-53 rev 5.
 */
export const COMPLIANCE_PACKS = ['AwsSolutions', 'Serverless', 'NIST.800.53.R5'] as const;
export type CompliancePack = (typeof COMPLIANCE_PACKS)[number];

const PACKS: Readonly<Record<CompliancePack, (props: { verbose: boolean; reports: boolean; reportFormats: import('cdk-nag').NagReportFormat[] }) => import('aws-cdk-lib').IAspect>> = {
  AwsSolutions: (props) => new AwsSolutionsChecks(props),
  Serverless: (props) => new ServerlessChecks(props),
  'NIST.800.53.R5': (props) => new NIST80053R5Checks(props),
};

/**
 * Runs `packs` over the whole app: a finding nobody acknowledged is an error or a warning on its
 * resource, and each pack writes `<pack>-<stage>-<stack>-NagReport.json` into the cloud assembly
 * (every rule on every resource: Compliant, Non-Compliant, Suppressed, N/A), which docs/compliance.md
 * is built from. Every synth runs AwsSolutions; test/infra/compliance.test.ts adds the other two once
 * (they double the synth time, and tests that call Annotations.fromStack synthesize once per stack).
 */
export const addCompliancePacks = (app: App, packs: readonly CompliancePack[]): void => {
  for (const pack of packs) Aspects.of(app).add(PACKS[pack]({ verbose: true, reports: true, reportFormats: [NagReportFormat.JSON] }));
};
