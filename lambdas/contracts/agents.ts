/**
 * The agents this build ships, by capability: what `agents` in cdk.json may enable. The worker's
 * registry (lambdas/agents) holds one module per name; a test keeps the two lists equal.
 */
export const BUILT_IN_AGENT_NAMES = ['echo'] as const;
export type BuiltInAgentName = (typeof BUILT_IN_AGENT_NAMES)[number];
