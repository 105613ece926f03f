import type { CallToolResult, McpServer } from '@modelcontextprotocol/server';
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

export const ADMIN_TOOLS = ['grant_role', 'revoke_role', 'list_role_grants'] as const;
export type AdminTool = (typeof ADMIN_TOOLS)[number];

export interface AdminToolsOptions {
  /** tools.ts's `run`: maps the outcome and every error to a tool result, once for all tools. */
  run: <T extends Record<string, unknown>>(tool: string, action: () => Promise<T>) => Promise<CallToolResult>;
  /**
   * The policy's decision on this call, with its parsed arguments (grant_role's `role` among them):
   * throws a ForbiddenError naming the missing permission to refuse. Runs inside `run`.
   */
  guard?: (tool: AdminTool, args: Record<string, unknown>) => void | Promise<void>;
  /** Whether tools/list shows the tool to this principal (the same decision, without arguments); default: all. */
  offers?: (tool: AdminTool) => boolean;
}

/**
 * Time-limited elevation over MCP: an admin grants a role to a subject of its tenant until a time
 * and revokes it; admins and auditors list the grants, history included.
 */
export const registerAdminTools = (server: McpServer, deps: RoleGrantDeps, principal: Principal, options: AdminToolsOptions): void => {
  const { run, guard, offers = () => true } = options;
  const guarded =
    <A extends Record<string, unknown>, T extends Record<string, unknown>>(tool: AdminTool, action: (args: A) => Promise<T>) =>
    (args: A) =>
      run(tool, async () => {
        await guard?.(tool, args);
        return action(args);
      });

  if (offers('grant_role')) {
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
      guarded('grant_role', async (args) => ({ ...(await grantRole(deps, principal, args)) })),
    );
  }
  if (offers('revoke_role')) {
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
      guarded('revoke_role', async (args) => ({ ...(await revokeRole(deps, principal, args)) })),
    );
  }
  if (offers('list_role_grants')) {
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
      guarded('list_role_grants', async (args) => ({ ...(await listRoleGrants(deps, principal, args)) })),
    );
  }
};
