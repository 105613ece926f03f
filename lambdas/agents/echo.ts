import * as z from 'zod';
import { AGENT_MANIFESTS } from '../contracts';
import { toAgent, type AgentModule } from './agent';

/** The built-in `echo` agent: returns its input unchanged. */
export const echoModule: AgentModule = {
  manifest: AGENT_MANIFESTS.echo,
  description: 'Returns its input unchanged.',
  input: z.unknown(),
  output: z.unknown(),
  run: async (input) => input,
};

export const echoAgent = toAgent(echoModule);
