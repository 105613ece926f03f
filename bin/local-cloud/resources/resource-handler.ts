import type { AwsClientConfig } from '../../../lambdas/adapters/runtime';
import type { LocalPlatform } from '../provision';
import type { LocalValue, TemplateResolver } from '../resolver';
import type { CfnResource } from '../synth';

/** One resource of a synthesized template, named by its stack and logical id. */
export interface TemplateResource {
  stackName: string;
  id: string;
  resource: CfnResource;
}

/** What every handler sees: the resolver, the emulators, and the platform being built. */
export interface ProvisionContext {
  readonly resolver: TemplateResolver;
  readonly aws: AwsClientConfig;
  readonly region: string;
  readonly accountId: string;
  readonly log: (message: string) => void;
  /** Every resource of every stack, stacks in order, each in template order. */
  readonly resources: readonly TemplateResource[];
  readonly platform: LocalPlatform;
}

/**
 * When a handler's `provision` runs, each phase after the one before (handlers of one phase run
 * in the registry's order):
 * - `create`: emulator state (tables, queues); the real names and URLs replace the placeholders;
 * - `functions`: the functions, whose environment resolves to what `create` made;
 * - `wire`: routes, gateway responses, event sources, schedules, which point at functions and queues.
 */
export const PHASES = ['create', 'functions', 'wire'] as const;
export type Phase = (typeof PHASES)[number];

interface HandlerIdentity {
  /** The CloudFormation type, e.g. `AWS::SQS::Queue`. */
  readonly type: string;
  /**
   * What `Ref` and `Fn::GetAtt` on the resource resolve to before anything exists, so references
   * resolve in any order. Without it: `<stack>-<logicalId>` and a local ARN (`defaultIdentity`).
   */
  identity?(ctx: ProvisionContext, resource: TemplateResource): LocalValue;
}

/**
 * The local counterpart of one CloudFormation type: a module under `resources/`, listed in
 * `registry.ts`. A handler without `provision` is read by another (an API resource by its methods).
 */
export type ResourceHandler = HandlerIdentity &
  (
    | {
        readonly phase: Phase;
        /** Creates or collects every resource of the type, stacks in order, each in template order. */
        provision(ctx: ProvisionContext, resources: readonly TemplateResource[]): Promise<void> | void;
      }
    | { readonly phase?: undefined; provision?: undefined }
  );

export const physicalName = (stackName: string, id: string) => `${stackName}-${id}`;
export const propertiesOf = ({ resource }: TemplateResource): Record<string, unknown> => resource.Properties ?? {};
export const localArn = (ctx: ProvisionContext, service: string, resource: string) =>
  `arn:aws:${service}:${ctx.region}:${ctx.accountId}:${resource}`;

/** The identity of a resource nothing local stands for: its name and a local ARN, for references. */
export const defaultIdentity = (ctx: ProvisionContext, { stackName, id }: TemplateResource): LocalValue => {
  const name = physicalName(stackName, id);
  return { ref: name, attributes: { Arn: localArn(ctx, 'local', name) } };
};
