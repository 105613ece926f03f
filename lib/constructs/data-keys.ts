import { Lazy, Stack, type RemovalPolicy } from 'aws-cdk-lib';
import { Effect, PolicyStatement, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ENV } from '../../lambdas/contracts/env';
import { classificationOf, dataKeyEnvName, ENCRYPTION_CONTEXT_KEYS, type ClassificationSettings } from '../../lambdas/contracts/classification';

export interface DataKeysProps {
  classifications: ClassificationSettings;
  /** Each key's alias is `<aliasPrefix>/<level>`, e.g. `alias/Switchboard-Stateful/confidential`. */
  aliasPrefix: string;
  removalPolicy: RemovalPolicy;
}

/** What a function may do with a level's key: seal (GenerateDataKey), open (Decrypt), or both. */
export type EnvelopeAccess = 'seal' | 'open' | 'seal-and-open';

const ALIAS_PREFIX = /^alias\/(?!aws\/)[A-Za-z0-9/_-]{1,200}$/;
const capitalised = (level: string) => level.charAt(0).toUpperCase() + level.slice(1);

/**
 * One customer-managed KMS key per data classification level (config `classifications`), for the
 * envelope encryption of task data (lambdas/adapters/kms-envelope.ts): rotation on, an alias per
 * level, multi-region primaries for the levels the DR region must decrypt (`multiRegionKeyArns`,
 * what its replica keys will name). `bindEnvelope` sets `DATA_KEY_ARN_<LEVEL>` and grants only
 * GenerateDataKey / Decrypt, and only with an encryption context of exactly tenant, task and
 * classification (the key's own level), so no function can use a key without naming the tenant.
 */
export class DataKeys extends Construct {
  readonly keys: Readonly<Record<string, Key>>;
  /** Each key's alias is `<aliasPrefix>/<level>`: how the DR stack finds the multi-region primaries (their ARNs are not known before deploy). */
  readonly aliasPrefix: string;
  private settings: ClassificationSettings;

  constructor(scope: Construct, id: string, props: DataKeysProps) {
    super(scope, id);
    if (!ALIAS_PREFIX.test(props.aliasPrefix)) {
      throw new Error(`DataKeys: aliasPrefix "${props.aliasPrefix}" must start with alias/ (not alias/aws/) and hold only letters, digits, / _ -`);
    }
    const { levels, sensitive, multiRegion } = props.classifications;
    for (const level of [...sensitive, ...multiRegion]) {
      if (!levels.includes(level)) throw new Error(`DataKeys: level "${level}" is sensitive or multi-region but not one of the levels (${levels.join(', ')})`);
    }
    this.settings = props.classifications;
    this.aliasPrefix = props.aliasPrefix;
    const keys: Record<string, Key> = {};
    for (const level of levels) {
      keys[level] = new Key(this, capitalised(level), {
        description: `Switchboard data key for ${level} data (envelope encryption, context tenant/task/classification)`,
        alias: `${props.aliasPrefix}/${level}`,
        enableKeyRotation: true,
        multiRegion: multiRegion.includes(level),
        removalPolicy: props.removalPolicy,
      });
    }
    this.keys = keys;
  }

  /** The resolved settings, run levels included (addWorkflows). */
  get classifications(): ClassificationSettings {
    return this.settings;
  }

  /**
   * Each workflow's run level: the capability `workflow.<name>` gets the most sensitive level among
   * its own (configured, else the default) and its steps' capabilities', so a run, its steps and its
   * pulled steps' tasks are sealed whenever any step handles sensitive data. Call before synthesis;
   * CLASSIFICATIONS is rendered when the template is.
   */
  addWorkflows(workflows: readonly { name: string; capabilities: readonly string[] }[]): void {
    const { levels } = this.settings;
    const capabilities = { ...this.settings.capabilities };
    for (const workflow of workflows) {
      const run = `workflow.${workflow.name}`;
      const candidates = [classificationOf(this.settings, run), ...workflow.capabilities.map((c) => classificationOf(this.settings, c))];
      capabilities[run] = candidates.reduce((a, b) => (levels.indexOf(b) > levels.indexOf(a) ? b : a));
    }
    this.settings = { ...this.settings, capabilities };
  }

  /** Level → key ARN, for every level. */
  get keyArns(): Record<string, string> {
    return Object.fromEntries(Object.entries(this.keys).map(([level, key]) => [level, key.keyArn]));
  }

  /** Level → primary key ARN of the multi-region keys: what the DR stack's replica keys name. */
  get multiRegionKeyArns(): Record<string, string> {
    return Object.fromEntries(this.settings.multiRegion.map((level) => [level, this.keys[level]!.keyArn]));
  }

  private keyOf(level: string): Key {
    const key = this.keys[level];
    if (!key) throw new Error(`DataKeys: no key for level "${level}" (levels: ${Object.keys(this.keys).join(', ')})`);
    return key;
  }

  /**
   * Grants `grantee` `access` to `level`'s key, only with the tenant/task/classification context.
   * `tenantTag`: the grantee is a role assumed with that session tag, and may use the key only with
   * its own tenant in the context (`kms:EncryptionContext:tenant` = `${aws:PrincipalTag/<tag>}`).
   */
  grantEnvelope(grantee: IGrantable, level: string, access: EnvelopeAccess, tenantTag?: string): void {
    const actions = { seal: ['kms:GenerateDataKey'], open: ['kms:Decrypt'], 'seal-and-open': ['kms:GenerateDataKey', 'kms:Decrypt'] }[access];
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions,
        resources: [this.keyOf(level).keyArn],
        conditions: {
          // No context key beyond the three, and each of them present (a missing key fails StringLike/StringEquals).
          'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': [...ENCRYPTION_CONTEXT_KEYS] },
          ...(tenantTag
            ? {
                StringLike: { 'kms:EncryptionContext:task': '?*' },
                StringEquals: { 'kms:EncryptionContext:classification': level, 'kms:EncryptionContext:tenant': `\${aws:PrincipalTag/${tenantTag}}` },
              }
            : {
                StringLike: { 'kms:EncryptionContext:tenant': '?*', 'kms:EncryptionContext:task': '?*' },
                StringEquals: { 'kms:EncryptionContext:classification': level },
              }),
        },
      }),
    );
  }

  /** CLASSIFICATIONS: the resolved settings as JSON, rendered at synthesis (after addWorkflows). */
  private setVariables(fn: LambdaFunction, levels: readonly string[]): void {
    fn.addEnvironment(ENV.classifications, Lazy.string({ produce: () => Stack.of(fn).toJsonString(this.settings) }));
    for (const level of levels) fn.addEnvironment(dataKeyEnvName(level), this.keyOf(level).keyArn);
  }

  /**
   * Lets `fn` seal and/or open the sensitive levels (or `levels`): sets CLASSIFICATIONS and each
   * `DATA_KEY_ARN_<LEVEL>` and grants, in one call, so the variables and the permission never drift.
   */
  bindEnvelope(fn: LambdaFunction, access: EnvelopeAccess, levels: readonly string[] = this.settings.sensitive): void {
    this.setVariables(fn, levels);
    for (const level of levels) this.grantEnvelope(fn, level, access);
  }

  /**
   * As bindEnvelope, but the permission goes to `role`, the tenant-scoped role `fn` assumes per
   * tenant with the session tag `tenantTag`: `fn` itself gets no data key, and each tenant's
   * session only its own tenant's contexts, so IAM confines a session to its tenant's ciphertexts.
   */
  bindTenantScopedEnvelope(fn: LambdaFunction, role: IGrantable, tenantTag: string, access: EnvelopeAccess, levels: readonly string[] = this.settings.sensitive): void {
    this.setVariables(fn, levels);
    for (const level of levels) this.grantEnvelope(role, level, access, tenantTag);
  }
}
