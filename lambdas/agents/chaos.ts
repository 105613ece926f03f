import * as z from 'zod';
import { AGENT_MANIFESTS } from '../contracts';
import { toAgent, type AgentModule } from './agent';

/**
 * The built-in `chaos` agent, for drills and tests (off unless cdk.json `agents` lists it): fails
 * its first `failAttempts` attempts, or waits `hangSeconds` (stopped by its signal), then returns
 * `output` (or its input).
 */
export const chaosModule: AgentModule = {
  manifest: AGENT_MANIFESTS.chaos,
  description: 'For drills and tests: fails the first failAttempts attempts, or hangs hangSeconds, then returns output.',
  input: z
    .object({
      failAttempts: z.number().int().min(0).max(10).optional(),
      hangSeconds: z.number().min(0).max(900).optional(),
      output: z.unknown().optional(),
    })
    .passthrough(),
  output: z.unknown(),
  run: async (input, context) => {
    const request = input as { failAttempts?: number; hangSeconds?: number; output?: unknown };
    if (context.attempt <= (request.failAttempts ?? 0)) throw new Error(`chaos: attempt ${context.attempt} fails, as asked`);
    if (request.hangSeconds) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, request.hangSeconds! * 1000);
        context.signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new Error('chaos: stopped while hanging'));
        });
      });
    }
    return request.output !== undefined ? request.output : input;
  },
};

export const chaosAgent = toAgent(chaosModule);
