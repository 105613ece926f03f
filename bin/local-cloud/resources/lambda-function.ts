import { ENTRY_METADATA } from '../../../lib/constructs/switchboard-function';
import { localArn, physicalName, propertiesOf, type ProvisionContext, type ResourceHandler } from './resource-handler';

/**
 * `AWS::Lambda::Function` → a local function: the handler source named in the template metadata
 * (`switchboard:entry`), with the template's environment and timeout. The local cloud runs the
 * source in-process, so the bundle, role, runtime and memory are not used.
 */
export const lambdaFunction = {
  type: 'AWS::Lambda::Function',
  identity: (ctx, { stackName, id }) => {
    const name = physicalName(stackName, id);
    return { ref: name, attributes: { Arn: localArn(ctx, 'lambda', `function:${name}`) } };
  },
  phase: 'functions',
  provision: (ctx, functions) => {
    for (const fn of functions) {
      const source = fn.resource.Metadata?.[ENTRY_METADATA];
      if (typeof source !== 'string') continue; // CDK's own helper functions have no local counterpart
      const p = propertiesOf(fn);
      const variables = (p['Environment'] as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
      const name = ctx.resolver.string(fn.stackName, { Ref: fn.id });
      ctx.platform.functions.set(name, {
        name,
        entry: source,
        environment: Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, ctx.resolver.string(fn.stackName, v)])),
        timeoutMs: Number(p['Timeout'] ?? 3) * 1000,
        memoryMb: Number(p['MemorySize'] ?? 128),
      });
    }
  },
} satisfies ResourceHandler;

/** The local function a function ARN (or an invocation URI that contains one) names. */
export const localFunctionName = (ctx: ProvisionContext, arn: string): string => {
  const match = /function:([^/:]+)/.exec(arn);
  if (!match || !ctx.platform.functions.has(match[1]!)) throw new Error(`local cloud: no local function for ${arn}`);
  return match[1]!;
};
