// cdk-nag is CommonJS whose exports Node's ESM loader cannot name: import it whole, once, here.
import cdkNag from 'cdk-nag';

export const { NagSuppressions, AwsSolutionsChecks } = cdkNag;
export type NagPackSuppression = import('cdk-nag').NagPackSuppression;
