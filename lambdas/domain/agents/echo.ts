import type { Agent } from '../ports';

/** The built-in `echo` agent: returns its input unchanged. */
export const echoAgent: Agent = {
  capability: 'echo',
  description: 'Returns its input unchanged.',
  run: async (input) => input,
};
