import type * as z from 'zod';
import type { AgentManifest } from '../contracts';
import type { Agent, AgentContext } from '../domain/ports';

/**
 * An agent as a module declares it: its manifest (name, timeout, AWS permissions, shared with
 * the CDK app through the contract), what it accepts and returns, and the work itself.
 */
export interface AgentModule<I = unknown, O = unknown> {
  readonly manifest: AgentManifest;
  readonly description: string;
  readonly input: z.ZodType<I>;
  readonly output: z.ZodType<O>;
  run(input: I, context: AgentContext): Promise<O>;
}

/** The agent ran longer than its manifest allows. */
export class AgentTimeoutError extends Error {
  override name = 'AgentTimeoutError';
}

/** An agent's result did not match its own output schema (a bug in the agent, never the caller's). */
export class AgentOutputError extends Error {
  override name = 'AgentOutputError';
}

/**
 * The one way the worker runs any agent module, through the domain's Agent port: the input is
 * parsed with the agent's schema, the run is bounded by its timeout (its signal aborts then, and
 * when the task is cancelled), and the output is checked against its schema.
 */
export const toAgent = <I, O>(module: AgentModule<I, O>): Agent => ({
  capability: module.manifest.name,
  description: module.description,
  input: module.input,
  run: async (input, context) => {
    const parsed = module.input.parse(input);
    const timeoutMs = module.manifest.timeoutSeconds * 1000;
    const controller = new AbortController();
    const onAbort = () => controller.abort(context.signal?.reason);
    context.signal?.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    try {
      const output = await Promise.race([
        module.run(parsed, { ...context, signal: controller.signal }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const error = new AgentTimeoutError(`agent ${module.manifest.name} ran longer than ${module.manifest.timeoutSeconds} s`);
            controller.abort(error);
            reject(error);
          }, timeoutMs);
        }),
      ]);
      const checked = module.output.safeParse(output);
      if (!checked.success) throw new AgentOutputError(`agent ${module.manifest.name} returned output outside its schema`);
      return checked.data;
    } finally {
      clearTimeout(timer);
      context.signal?.removeEventListener('abort', onAbort);
    }
  },
});
