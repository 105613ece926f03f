import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Stack, type RemovalPolicy, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { CognitoSettings, IssuerSettings } from '../../lambdas/contracts';
import { Identity } from '../constructs/identity';

export interface IdentityStackProps extends StackProps {
  cognito: CognitoSettings;
  removalPolicy: RemovalPolicy;
  /** The platform key: the trigger's log group is encrypted with it. */
  logKey?: IKey;
}

/** The identity provider on AWS: the Cognito user pool, its clients and trigger (stateful: deployed apart from the API). */
export class IdentityStack extends Stack {
  readonly identity: Identity;

  constructor(scope: Construct, id: string, props: IdentityStackProps) {
    super(scope, id, props);
    this.identity = new Identity(this, 'Identity', {
      settings: props.cognito,
      removalPolicy: props.removalPolicy,
      ...(props.logKey ? { logEncryptionKey: props.logKey } : {}),
    });
  }

  /** What the API stack's authorizer trusts: the pool's issuer settings and URL. */
  get issuer(): { issuer: IssuerSettings; issuerUrl: string } {
    return { issuer: this.identity.issuer, issuerUrl: this.identity.issuerUrl };
  }
}
