import type { McpServer } from '@modelcontextprotocol/server';
import * as z from 'zod';
import type { Principal } from '../domain/principal';
import { GRANT_HISTORY_DAYS, GRANT_MAX_DAYS, GRANT_STATUSES, GrantableRoleSchema } from '../domain/role-grants';
import {
  GrantRoleInputSchema,
  grantRole,
  ListRoleGrantsInputSchema,
  listRoleGrants,
  RevokeRoleInputSchema,
  revokeRole,
  type RoleGrantDeps,
} from '../domain/use-cases/role-grants';
import type { DecidedRun } from './tools';

const GrantViewSchema = z.object({
  grantId: z.string(),
  subject: z.string(),
  role: GrantableRoleSchema,
  until: z.string(),
  grantedBy: z.string(),
  grantedAt: z.string(),
  reason: z.string().optional(),
  revokedAt: z.string().optional(),
  revokedBy: z.string().optional(),
  status: z.enum(GRANT_STATUSES),
});
const RevokeOutputSchema = z.object({ grant: GrantViewSchema, revoked: z.boolean(), message: z.string() });
const ListOutputSchema = z.object({ grants: z.array(GrantViewSchema), nextCursor: z.string().optional() });

/**
 * Time-limited elevation over MCP: an admin grants a role to a subject of its tenant until a time
 * and revokes it; admins and auditors list the grants, history included. Each call is decided by
 * the access policy first (`decided`, tools.ts): grant_role with the role granted as `role`.
 */
export const registerAdminTools = (server: McpServer, deps: RoleGrantDeps, principal: Principal, decided: DecidedRun): void => {
  server.registerTool(
    'grant_role',
    {
      title: 'Grant a role until a time',
      description:
        `Admin: give a subject (token sub) of your tenant a role until a time (at most ${GRANT_MAX_DAYS} days ahead), checked on every call it makes. ` +
        'Not to yourself; never operator. Returns the grant; revoke it early with revoke_role.',
      inputSchema: GrantRoleInputSchema,
      outputSchema: GrantViewSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (args) => decided('grant_role', { role: args.role }, async () => ({ ...(await grantRole(deps, principal, args)) }), { args, target: `grant:${args.subject}:${args.role}` }),
  );
  server.registerTool(
    'revoke_role',
    {
      title: 'Revoke a role grant',
      description:
        'Admin: end a grant now; the subject loses the role from its next call. Revoking twice is harmless; an expired grant is left as it is.',
      inputSchema: RevokeRoleInputSchema,
      outputSchema: RevokeOutputSchema,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    (args) => decided('revoke_role', {}, async () => ({ ...(await revokeRole(deps, principal, args)) }), { args }),
  );
  server.registerTool(
    'list_role_grants',
    {
      title: 'List role grants',
      description:
        `Admin or auditor: your tenant's role grants, active, expired and revoked (kept ${GRANT_HISTORY_DAYS} days after they end), by subject then oldest first. ` +
        'Filter by subject; page with nextCursor.',
      inputSchema: ListRoleGrantsInputSchema,
      outputSchema: ListOutputSchema,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args) => decided('list_role_grants', {}, async () => ({ ...(await listRoleGrants(deps, principal, args)) }), { args }),
  );
};
