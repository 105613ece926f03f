import * as z from 'zod';
import { argumentsHash, type AuditDraft, type AuditEntry, type AuditOutcome } from '../../contracts/audit';
import { DomainError } from '../errors';
import type { Logger } from '../ports';
import type { Principal } from '../principal';
import { appendAudit, type AuditDeps } from './audit';

/**
 * The audit log's side of a tool call (docs/audit.md, "An acknowledged action always has its entry"):
 *  - a denied call: one `access` entry (`decision: deny`), appended before the denial is answered;
 *  - a read: one entry with its outcome, appended before the answer (nothing is answered unrecorded);
 *  - a change: an intent entry (`pending`, with the target when known) before the operation (if it
 *    cannot be appended, the operation does not run), and an outcome entry completing it after.
 * Only the arguments' hash is recorded, never the arguments.
 */

/** The audit log cannot be written: the call was not performed (nothing is done unrecorded). */
export class AuditUnavailableError extends DomainError {
  readonly code = 'AUDIT_UNAVAILABLE';
  constructor() {
    super('the audit log cannot be written now, so nothing was done; retry later');
  }
}

/** Who calls and in which request: what every entry of the call names. */
export interface AuditedCaller {
  principal: Principal;
  clientId?: string;
  requestId: string;
}

export interface CallAuditDeps extends AuditDeps {
  logger: Logger;
}

/** What the tool call is, for its entries. */
export interface AuditedTool {
  tool: string;
  /** `admin` for the platform's and tenant's administration tools, `tool` otherwise. */
  kind: 'tool' | 'admin';
  /** The call's arguments (hashed, never recorded). */
  args: unknown;
  /** What it acts on, when known before it runs (`task:<id>`). */
  target?: string;
}

/** The code an error is recorded with: a domain error's own, INVALID_INPUT for a schema error, else INTERNAL. */
export const outcomeCodeOf = (error: unknown): string =>
  error instanceof DomainError ? error.code : error instanceof z.ZodError ? 'INVALID_INPUT' : 'INTERNAL';

const hashOf = (args: unknown): string | undefined => {
  try {
    return argumentsHash(args ?? null);
  } catch {
    return undefined; // not JSON-expressible (cannot come from a JSON-RPC request)
  }
};

const draftOf = (caller: AuditedCaller, call: AuditedTool, fields: Pick<AuditDraft, 'kind' | 'decision' | 'outcome'> & { completes?: number }): AuditDraft => {
  const hash = hashOf(call.args);
  return {
    tenantId: caller.principal.tenantId,
    subject: caller.principal.subject,
    ...(caller.clientId ? { clientId: caller.clientId } : {}),
    action: call.tool,
    ...(hash ? { argumentsHash: hash } : {}),
    requestId: caller.requestId,
    ...(call.target ? { target: call.target } : {}),
    ...fields,
  };
};

/** Records a denied call (one entry). Never throws: the denial stands whether or not it could be recorded. */
export const recordDenial = async (deps: CallAuditDeps, caller: AuditedCaller, call: AuditedTool, code: string): Promise<AuditEntry | undefined> => {
  try {
    return await appendAudit(deps, draftOf(caller, call, { kind: 'access', decision: 'deny', outcome: { status: 'error', code } }));
  } catch (error) {
    deps.logger.error('audit entry of a denial not written', { tool: call.tool, tenantId: caller.principal.tenantId, error: String(error) });
    return undefined;
  }
};

const append = async (deps: CallAuditDeps, draft: AuditDraft): Promise<AuditEntry> => {
  try {
    return await appendAudit(deps, draft);
  } catch (error) {
    deps.logger.error('audit entry not written', { action: draft.action, tenantId: draft.tenantId, error: String(error) });
    throw new AuditUnavailableError();
  }
};

/** Runs `action`, then `record`s how it ended (ok, or the error's code) whether it succeeded or threw. */
const thenRecord = async <T>(action: () => Promise<T>, record: (outcome: AuditOutcome) => Promise<void>): Promise<T> => {
  let outcome: AuditOutcome = { status: 'ok' };
  try {
    return await action();
  } catch (error) {
    outcome = { status: 'error', code: outcomeCodeOf(error) };
    throw error;
  } finally {
    await record(outcome);
  }
};

/** A read-only call: runs it, then records it with its outcome before answering (AuditUnavailableError if that fails). */
export const auditedRead = <T>(deps: CallAuditDeps, caller: AuditedCaller, call: AuditedTool, action: () => Promise<T>): Promise<T> =>
  thenRecord(action, async (outcome) => void (await append(deps, draftOf(caller, call, { kind: call.kind, decision: 'allow', outcome }))));

/**
 * A call that changes something: the intent entry first (AuditUnavailableError, and nothing done,
 * when it cannot be appended), then the operation, then the outcome entry completing the intent.
 * A failed outcome append is logged, not thrown: the operation is done and its intent is recorded;
 * the reconciler completes the intent from its target's state.
 */
export const auditedChange = async <T>(deps: CallAuditDeps, caller: AuditedCaller, call: AuditedTool, action: () => Promise<T>): Promise<T> => {
  const intent = await append(deps, draftOf(caller, call, { kind: call.kind, decision: 'allow', outcome: { status: 'pending' } }));
  return thenRecord(action, async (outcome) => {
    try {
      await appendAudit(deps, draftOf(caller, call, { kind: call.kind, decision: 'allow', outcome, completes: intent.seq }));
    } catch (error) {
      deps.logger.warn('audit outcome not written: the reconciler completes the intent', { action: call.tool, seq: intent.seq, error: String(error) });
    }
  });
};
