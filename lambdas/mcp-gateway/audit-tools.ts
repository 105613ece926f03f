import type { McpServer } from '@modelcontextprotocol/server';
import * as z from 'zod';
import { AUDIT_KINDS, AuditOutcomeSchema, QueryAuditArgsSchema, VerifyAuditArgsSchema } from '../contracts/audit';
import type { AuditDigestStore, AuditStore, AuditVerifier } from '../domain/audit';
import type { Principal } from '../domain/principal';
import { queryAudit, verifyAudit } from '../domain/use-cases/audit';
import type { DecidedRun } from './tools';

export interface AuditToolDeps {
  audit: AuditStore;
  digests: AuditDigestStore;
  verifier: AuditVerifier;
}

/** Entries one verify_audit call checks at most (a Lambda answers within its timeout); `nextFrom` continues. */
export const VERIFY_AUDIT_MAX_ENTRIES = 20_000;

const FindingSchema = z.object({
  kind: z.enum(['altered', 'deleted', 'inserted', 'reordered', 'digest']),
  seq: z.number().optional(),
  fromSeq: z.number().optional(),
  toSeq: z.number().optional(),
  detail: z.string(),
});
const VerifyOutputSchema = z.object({
  tenantId: z.string(),
  fromSeq: z.number(),
  toSeq: z.number(),
  entries: z.number(),
  digests: z.number(),
  verified: z.boolean(),
  findings: z.array(FindingSchema),
  nextFrom: z.number().optional(),
});
const EntryViewSchema = z.object({
  seq: z.number(),
  time: z.string(),
  tenantId: z.string(),
  subject: z.string(),
  clientId: z.string().optional(),
  kind: z.enum(AUDIT_KINDS),
  action: z.string(),
  decision: z.enum(['allow', 'deny']),
  outcome: AuditOutcomeSchema,
  argumentsHash: z.string().optional(),
  requestId: z.string(),
  target: z.string().optional(),
  completes: z.number().optional(),
  prevHash: z.string(),
  hash: z.string(),
});
const QueryOutputSchema = z.object({ entries: z.array(EntryViewSchema), nextCursor: z.string().optional() });

/**
 * The auditor's tools: verify a tenant's hash chain and its signed digests, and query its entries.
 * The caller's own tenant by default; another tenant's only for a platform-wide auditor (the access
 * policy decides with `anyTenant`: auditor and operator).
 */
export const registerAuditTools = (server: McpServer, deps: AuditToolDeps, principal: Principal, decided: DecidedRun): void => {
  const tenantOf = (tenant: string | undefined) => tenant ?? principal.tenantId;
  const anyTenant = (tenant: string | undefined) => tenant !== undefined && tenant !== principal.tenantId;

  server.registerTool(
    'verify_audit',
    {
      title: 'Verify the audit log',
      description:
        'Auditor: verify a tenant\'s hash-chained audit log and its signed digests over a seq range (default: from the first entry), ' +
        `at most ${VERIFY_AUDIT_MAX_ENTRIES} entries per call (continue from nextFrom). Reports each altered, deleted, inserted or reordered entry ` +
        'and each digest that does not verify; verified is true when there is none. tenant: another tenant\'s (platform-wide auditors only).',
      inputSchema: VerifyAuditArgsSchema,
      outputSchema: VerifyOutputSchema,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args) =>
      decided('verify_audit', { anyTenant: anyTenant(args.tenant) }, async () => {
        const fromSeq = args.from ?? 1;
        const cap = fromSeq + VERIFY_AUDIT_MAX_ENTRIES - 1;
        const toSeq = args.to === undefined ? cap : Math.min(args.to, cap);
        const report = await verifyAudit({ store: deps.audit, digests: deps.digests, verifier: deps.verifier }, {
          tenantId: tenantOf(args.tenant),
          fromSeq,
          toSeq,
        });
        const more = report.entries === VERIFY_AUDIT_MAX_ENTRIES && (args.to === undefined || args.to > toSeq);
        return {
          ...report,
          toSeq: report.toSeq,
          verified: report.findings.length === 0,
          findings: report.findings.map((finding) => ({ ...finding })),
          ...(more ? { nextFrom: toSeq + 1 } : {}),
        };
      }, { args }),
  );

  server.registerTool(
    'query_audit',
    {
      title: 'Query the audit log',
      description:
        'Auditor: a tenant\'s audit entries, oldest first, by subject, action, kind (tool, transition, access, admin), decision and time; ' +
        'each says who (subject, client), what (action, arguments hash — never the arguments), the outcome, when and in which request. ' +
        'Page with nextCursor. tenant: another tenant\'s (platform-wide auditors only).',
      inputSchema: QueryAuditArgsSchema,
      outputSchema: QueryOutputSchema,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args) =>
      decided('query_audit', { anyTenant: anyTenant(args.tenant) }, async () => {
        const page = await queryAudit({ store: deps.audit }, {
          tenantId: tenantOf(args.tenant),
          ...args.filters,
          limit: args.limit,
          ...(args.cursor !== undefined ? { cursor: args.cursor } : {}),
        });
        return { entries: page.entries, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
      }, { args }),
  );
};
