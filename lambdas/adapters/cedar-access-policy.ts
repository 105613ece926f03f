import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_POLICIES_DIR, loadPolicies, PolicyLoadError, type PolicyFiles } from '../contracts/access-policies';
import { TOOL_SCOPES } from '../contracts/auth';
import { denialReason, PRIORITY_RANK, type AccessArguments, type AccessDecision, type AccessPolicy } from '../domain/access';
import type { Principal } from '../domain/principal';

/**
 * The access policy evaluated in-process by Cedar (cedar-wasm, nodejs build: it reads its .wasm
 * beside its JS with readFileSync, so a bundle ships `cedar_wasm_bg.wasm` beside index.js).
 * A policies folder holds `switchboard.cedarschema`, `platform.cedar` (and any other `*.cedar`
 * of the platform) and `tenants/<tenant>.cedar`: a tenant's own rules, `forbid` only, applied to
 * that tenant's principals. Everything is parsed and validated against the schema once (per
 * container); each decision then runs against the pre-parsed policy set.
 */

const NS = 'Switchboard';
const entity = (type: string, id: string) => ({ type: `${NS}::${type}`, id });

/** The policies folder on the local file system. */
export const nodePolicyFiles: PolicyFiles = { exists: existsSync, list: (dir) => readdirSync(dir), read: (path) => readFileSync(path, 'utf8') };

const KNOWN_ROLES_CACHE = 1000;
const DECISIONS_CACHE = 10_000;
let instances = 0;

/** The access policy of a policies folder, loaded once: build it once per container. */
export const cedarAccessPolicy = (dir: string, options: { tools?: readonly string[]; displayRoot?: string } = {}): AccessPolicy & { policyIds: readonly string[] } => {
  const loaded = loadPolicies(cedar, nodePolicyFiles, dir, options.displayRoot);
  const id = `switchboard-${++instances}`;
  const setParsed = cedar.preparsePolicySet(id, { staticPolicies: loaded.policies as unknown as Record<string, cedar.PolicyJson> });
  if (setParsed.type === 'failure') throw new PolicyLoadError(`policy set: ${setParsed.errors[0]!.message.replace(/\s+/g, ' ')}`);
  const tools = options.tools ?? Object.keys(TOOL_SCOPES);
  const forbids = new Set(Object.entries(loaded.policies).filter(([, p]) => p.effect === 'forbid').map(([policyId]) => policyId));

  const evaluate = (principal: Principal, tool: string, args: AccessArguments): { allowed: boolean; policies: string[] } => {
    if (!tools.includes(tool)) return { allowed: false, policies: [] };
    const context: cedar.Context = {
      ...(args.capability !== undefined ? { capability: args.capability } : {}),
      ...(args.workflow !== undefined ? { workflow: args.workflow } : {}),
      ...(args.priority !== undefined ? { priority: PRIORITY_RANK[args.priority] } : {}),
      ...(args.role !== undefined ? { role: args.role } : {}),
      ...(args.anyTenant !== undefined ? { anyTenant: args.anyTenant } : {}),
    };
    const answer = cedar.statefulIsAuthorized({
      principal: entity('Principal', `${principal.tenantId}/${principal.subject}`),
      action: { type: `${NS}::Action`, id: tool },
      resource: entity('Tenant', args.targetTenant ?? principal.tenantId),
      context,
      // The request is built here from typed values (and every policy was validated strictly at load):
      // validating it again against the schema would double a decision's cost for nothing.
      validateRequest: false,
      preparsedPolicySetId: id,
      entities: [
        {
          uid: entity('Principal', `${principal.tenantId}/${principal.subject}`),
          attrs: { tenant: { __entity: entity('Tenant', principal.tenantId) } },
          parents: principal.roles.map((role) => entity('Role', role)),
        },
      ],
    });
    // A request Cedar refuses, or any policy that errs (Cedar would skip an erring forbid): denied, fail closed.
    if (answer.type === 'failure' || answer.response.diagnostics.errors.length > 0) return { allowed: false, policies: [] };
    const { decision, diagnostics } = answer.response;
    return { allowed: decision === 'allow', policies: diagnostics.reason };
  };

  // A decision is a pure function of the principal, the tool and the arguments under this (immutable)
  // policy set: memoized, bounded, per container.
  const decisions = new Map<string, { allowed: boolean; policies: string[] }>();
  const memoized = (principal: Principal, tool: string, args: AccessArguments) => {
    const key = JSON.stringify([principal.tenantId, principal.subject, [...principal.roles].sort(), tool, args.capability, args.workflow, args.priority, args.role, args.anyTenant, args.targetTenant]);
    const known = decisions.get(key);
    if (known) return known;
    const outcome = evaluate(principal, tool, args);
    if (decisions.size >= DECISIONS_CACHE) decisions.clear();
    decisions.set(key, outcome);
    return outcome;
  };

  const toolCache = new Map<string, ReadonlySet<string>>();
  const allowedTools = (principal: Principal): ReadonlySet<string> => {
    const key = `${principal.tenantId}|${[...principal.roles].sort().join(',')}`;
    const cached = toolCache.get(key);
    if (cached) return cached;
    const allowed = new Set(tools.filter((tool) => evaluate(principal, tool, {}).allowed));
    if (toolCache.size >= KNOWN_ROLES_CACHE) toolCache.clear();
    toolCache.set(key, allowed);
    return allowed;
  };

  return {
    policyIds: Object.keys(loaded.policies),
    allowedTools,
    decide(principal, tool, args = {}): AccessDecision {
      const outcome = memoized(principal, tool, args);
      if (outcome.allowed) return { allowed: true, policies: outcome.policies };
      const forbiddenBy = outcome.policies.filter((policyId) => forbids.has(policyId));
      const toolAllowed = Object.keys(args).length > 0 && allowedTools(principal).has(tool);
      return { allowed: false, policies: forbiddenBy, reason: denialReason(principal, tool, args, toolAllowed, forbiddenBy) };
    },
  };
};


/**
 * The policies folder of a function: POLICIES_DIR (default lib/policies), relative to the code root
 * (LAMBDA_TASK_ROOT on AWS, the project root when the local cloud runs the source).
 */
export { PolicyLoadError };

export const policiesDirOf = (rawEnv: Readonly<Record<string, string | undefined>>, cwd = process.cwd()): string =>
  resolve(rawEnv.LAMBDA_TASK_ROOT ?? cwd, rawEnv.POLICIES_DIR ?? DEFAULT_POLICIES_DIR);
