import { Duration } from 'aws-cdk-lib';
import { ArnPrincipal, PolicyStatement, Role } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { agentKeys, ENV, quotaKeys, TASKS_TABLE, taskKeys } from '../../lambdas/contracts';
import type { PartitionGrant, TasksTable } from './tasks-table';
import type { DataKeys } from './data-keys';

/** The session tag the gateway sets when it assumes the role (lambdas/adapters/tenant-credentials.ts). */
export const TENANT_TAG = 'tenant';
const TENANT = `\${aws:PrincipalTag/${TENANT_TAG}}`;

/**
 * The partitions of one tenant, as the tenant-scoped role's LeadingKeys (the session's tenant tag
 * in place of the tenant id): its tasks, workflow steps and role grants (`TENANT#<t>`), its
 * byStatus index partitions (`TENANT#<t>#<status>`), its quota and principal buckets
 * (`QUOTA#<t>`), its claimable index partitions (`CLAIM#<t>#<capability>`). Tenant ids hold no
 * `#`, so no pattern of one tenant matches another's keys.
 */
export const TENANT_PARTITIONS: PartitionGrant = {
  actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
  table: true,
  indexes: [TASKS_TABLE.indexes.byCreated.indexName, TASKS_TABLE.indexes.byStatus.indexName, TASKS_TABLE.indexes.claimable.indexName],
  leadingKeys: [taskKeys.tenant(TENANT), taskKeys.status(TENANT, '*'), quotaKeys.tenant(TENANT), taskKeys.claimable(TENANT, '*')],
};

/**
 * What a tenant-facing function reads and writes outside any tenant's partitions, on its own
 * role: the agents' routing state (`AGENTS`: statistics, breakers, registered MCP servers), and
 * the dead-letter index (`DEAD#<priority>`), which a redrive queries before it re-reads each task
 * through the task's tenant's session. Nothing else: no `TENANT#`, `QUOTA#`, `CLAIM#` partition.
 */
export const SHARED_PARTITIONS: readonly PartitionGrant[] = [
  {
    actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
    table: true,
    indexes: [],
    leadingKeys: [agentKeys.partition],
  },
  { actions: ['dynamodb:Query'], table: false, indexes: [TASKS_TABLE.indexes.deadLettered.indexName], leadingKeys: [taskKeys.deadLettered('*')] },
];

export interface TenantScopedAccessProps {
  tasks: TasksTable;
  /** The tenant-facing function that assumes the role per caller's tenant (the MCP gateway). */
  fn: LambdaFunction;
  /** How long one tenant session lasts (AssumeRole's DurationSeconds is at most this); default 1 hour. */
  maxSessionDuration?: Duration;
  /**
   * The data keys of the envelope encryption: the role (not `fn`) may seal and open the sensitive
   * levels, only with the session's own tenant in the encryption context.
   */
  dataKeys?: DataKeys;
}

/**
 * Tenant isolation enforced by IAM: a role that `fn`'s role may assume only with the session tag
 * `tenant` set (and no other tag), whose policy reaches the tasks table only on the partitions of
 * that tenant (`dynamodb:LeadingKeys` on `${aws:PrincipalTag/tenant}`). `fn` gets the role's ARN
 * (TENANT_ROLE_ARN) and the table's name, and on its own role only the shared partitions it needs
 * (SHARED_PARTITIONS), each as conditioned: no statement of either role reaches the table unconditioned.
 */
export class TenantScopedAccess extends Construct {
  readonly role: Role;

  constructor(scope: Construct, id: string, props: TenantScopedAccessProps) {
    super(scope, id);
    const fnRole = props.fn.role;
    if (!fnRole) throw new Error(`TenantScopedAccess ${id}: the function has no role to trust`);
    const duration = props.maxSessionDuration ?? Duration.hours(1);
    if (duration.toSeconds() < 900 || duration.toSeconds() > 43_200) {
      throw new Error(`TenantScopedAccess ${id}: maxSessionDuration ${duration.toSeconds()} s is outside IAM's 900 to 43200 s`);
    }
    this.role = new Role(this, 'Role', {
      description: 'Assumed by the MCP gateway with the caller\'s tenant as session tag: reaches only that tenant\'s partitions of the tasks table',
      maxSessionDuration: duration,
      assumedBy: new ArnPrincipal(fnRole.roleArn)
        .withConditions({
          // The tenant tag is required, non-empty, and the only tag the session may carry.
          StringLike: { [`aws:RequestTag/${TENANT_TAG}`]: '?*' },
          'ForAllValues:StringEquals': { 'aws:TagKeys': [TENANT_TAG] },
        })
        .withSessionTags(),
    });
    props.tasks.grantPartitions(this.role, TENANT_PARTITIONS);
    for (const grant of SHARED_PARTITIONS) props.tasks.grantPartitions(props.fn, grant);
    fnRole.addToPrincipalPolicy(new PolicyStatement({ actions: ['sts:AssumeRole', 'sts:TagSession'], resources: [this.role.roleArn] }));
    props.tasks.bindName(props.fn);
    props.fn.addEnvironment(ENV.tenantRoleArn, this.role.roleArn);
    props.dataKeys?.bindTenantScopedEnvelope(props.fn, this.role, TENANT_TAG, 'seal-and-open');
  }
}
