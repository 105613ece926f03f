import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { RemovalPolicy } from 'aws-cdk-lib';
import { CfnPolicy, CfnPolicyStore } from 'aws-cdk-lib/aws-verifiedpermissions';
import { Construct } from 'constructs';
import type { LoadedPolicies } from '../../lambdas/contracts/access-policies';

export interface AccessPolicyStoreProps {
  /** The checked policies (lib/policies.ts `loadAccessPolicies`): the same the gateway evaluates. */
  policies: LoadedPolicies;
  removalPolicy?: RemovalPolicy;
}

/**
 * The access policies synced to an Amazon Verified Permissions policy store (optional: the gateway
 * decides in-process from the same files). Strict validation against the schema; one static policy
 * per statement, described by its `@id`, tenants' policies with their tenant condition.
 */
export class AccessPolicyStore extends Construct {
  readonly store: CfnPolicyStore;

  constructor(scope: Construct, id: string, props: AccessPolicyStoreProps) {
    super(scope, id);
    const schema = cedar.schemaToJson(props.policies.schema);
    if (schema.type === 'failure') throw new Error(`AccessPolicyStore ${id}: schema: ${schema.errors[0]!.message}`);
    this.store = new CfnPolicyStore(this, 'Store', {
      description: 'Switchboard access policies (lib/policies)',
      validationSettings: { mode: 'STRICT' },
      schema: { cedarJson: JSON.stringify(schema.json) },
      deletionProtection: { mode: props.removalPolicy === RemovalPolicy.RETAIN ? 'ENABLED' : 'DISABLED' },
    });
    this.store.applyRemovalPolicy(props.removalPolicy ?? RemovalPolicy.DESTROY);
    for (const [policyId, policy] of Object.entries(props.policies.policies)) {
      // The statement without its annotations: the @id becomes the description.
      const text = cedar.policyToText({ ...(policy as unknown as cedar.PolicyJson), annotations: {} });
      if (text.type === 'failure') throw new Error(`AccessPolicyStore ${id}: ${policyId}: ${text.errors[0]!.message}`);
      const logicalId = `Policy${policyId.replace(/(^|[^A-Za-z0-9])([A-Za-z0-9])/g, (_, __, c: string) => c.toUpperCase())}`;
      new CfnPolicy(this, logicalId, {
        policyStoreId: this.store.attrPolicyStoreId,
        definition: { static: { statement: text.text, description: policyId } },
      });
    }
  }
}
