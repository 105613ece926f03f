/**
 * What the CDK app must know of each agent this build ships: how long it may run (the worker's
 * timeout must cover it) and the AWS permissions the worker needs to run it. The agent's code,
 * its input and output schemas, live in lambdas/agents/<name>.ts, which names its manifest here;
 * a test keeps the two lists equal.
 */
export interface AgentPermission {
  readonly actions: readonly string[];
  readonly resources: readonly string[];
}

export interface AgentManifest {
  readonly name: string;
  /** The longest one run may take; the worker stops waiting after it. */
  readonly timeoutSeconds: number;
  /** IAM statements the worker's role gets when the agent is enabled. */
  readonly permissions: readonly AgentPermission[];
}

export const AGENT_MANIFESTS = {
  echo: { name: 'echo', timeoutSeconds: 5, permissions: [] },
  chaos: { name: 'chaos', timeoutSeconds: 25, permissions: [] },
} as const satisfies Record<string, AgentManifest>;

export type BuiltInAgentName = keyof typeof AGENT_MANIFESTS;
/** The agents `agents` in cdk.json may enable. */
export const BUILT_IN_AGENT_NAMES = Object.keys(AGENT_MANIFESTS) as readonly BuiltInAgentName[];
