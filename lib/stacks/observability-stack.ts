import { Stack, type StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { Observability, type ObservabilityProps } from '../constructs/observability';

/** Alarms, their SNS topic and the dashboard (docs/operations.md); reads the other stacks, nothing reads it. */
export class ObservabilityStack extends Stack {
  readonly observability: Observability;

  constructor(scope: Construct, id: string, props: StackProps & ObservabilityProps) {
    super(scope, id, props);
    this.observability = new Observability(this, 'Observability', props);
  }
}
