/**
 * The contract between the CDK app (lib/) and the functions (lambdas/): environment variables,
 * the tasks table's schema, priorities, agent names, auth settings and quotas. Dependency-free (zod
 * and node:crypto only): lib/ imports nothing else from lambdas/, so a synth never loads the AWS SDK.
 */
export * from './agents';
export * from './auth';
export * from './env';
export * from './priorities';
export * from './quotas';
export * from './tasks-table';
export * from './workflows';
export * from './agent-connectors';
export * from './tenant';
export * from './mcp-tasks';
