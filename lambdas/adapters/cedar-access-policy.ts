import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { TOOL_SCOPES } from '../contracts/auth';
import { TenantIdSchema } from '../contracts/tenant';
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

export const SCHEMA_FILE = 'switchboard.cedarschema';
export const TENANTS_DIR = 'tenants';
const NS = 'Switchboard';

/** A policy file that cannot be loaded: the message is one line, `file:line: what is wrong`. */
export class PolicyLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyLoadError';
  }
}

const lineOf = (text: string, offset: number) => text.slice(0, offset).split('\n').length;
const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();
const where = (file: string, text: string, error: cedar.DetailedError) => {
  const offset = error.sourceLocations?.[0]?.start;
  return `${file}${offset === undefined ? '' : `:${lineOf(text, offset)}`}`;
};
const failure = (file: string, text: string, error: cedar.DetailedError): PolicyLoadError =>
  new PolicyLoadError(`${where(file, text, error)}: ${oneLine(error.message)}${error.help ? ` (${oneLine(error.help)})` : ''}`);

/**
 * The text of each policy of a (parsed) policy file, in order, with its offset: a policy ends at
 * its `;` (the only place Cedar has one), comments and strings skipped.
 */
const splitPolicies = (text: string): { at: number; text: string }[] => {
  const policies: { at: number; text: string }[] = [];
  let start: number | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      i = end === -1 ? text.length : end;
    } else if (c === '"') {
      start ??= i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === ';') {
      if (start !== undefined) policies.push({ at: start, text: text.slice(start, i + 1) });
      start = undefined;
    } else if (!/\s/.test(c)) start ??= i;
  }
  return policies;
};

interface PolicyFile {
  file: string;
  text: string;
  tenant?: string;
}

const entity = (type: string, id: string) => ({ type: `${NS}::${type}`, id });

/** `principal.tenant == Switchboard::Tenant::"<tenant>"`: the condition added to a tenant's policies. */
const ofTenant = (tenant: string): cedar.Clause => ({
  kind: 'when',
  body: { '==': { left: { '.': { left: { Var: 'principal' }, attr: 'tenant' } }, right: { Value: { __entity: entity('Tenant', tenant) } } } },
} as cedar.Clause);

export interface LoadedPolicies {
  schema: string;
  /** Policy id (its `@id`) → policy, tenants' policies narrowed to their tenant. */
  policies: Record<string, cedar.PolicyJson>;
  /** Each policy's file:line, for diagnostics. */
  sources: Record<string, string>;
}

/**
 * Reads and checks a policies folder: the schema parses; each file parses and validates against
 * the schema (strict); each policy has a unique `@id`; a tenant's file has only `forbid`s.
 * Throws a PolicyLoadError naming file:line. `displayRoot`: paths in messages are relative to it.
 */
export const loadPolicies = (dir: string, displayRoot = dir): LoadedPolicies => {
  const show = (path: string) => relative(displayRoot, path) || path;
  const schemaPath = join(dir, SCHEMA_FILE);
  if (!existsSync(schemaPath)) throw new PolicyLoadError(`${show(schemaPath)}: the Cedar schema is missing`);
  const schema = readFileSync(schemaPath, 'utf8');
  const schemaCheck = cedar.checkParseSchema(schema);
  if (schemaCheck.type === 'failure') throw failure(show(schemaPath), schema, schemaCheck.errors[0]!);

  const files: PolicyFile[] = readdirSync(dir)
    .filter((name) => name.endsWith('.cedar'))
    .sort()
    .map((name) => ({ file: show(join(dir, name)), text: readFileSync(join(dir, name), 'utf8') }));
  if (files.length === 0) throw new PolicyLoadError(`${show(dir)}: no .cedar policy file`);
  const tenantsDir = join(dir, TENANTS_DIR);
  if (existsSync(tenantsDir)) {
    for (const name of readdirSync(tenantsDir).filter((n) => n.endsWith('.cedar')).sort()) {
      const path = join(tenantsDir, name);
      const tenant = basename(name, '.cedar');
      if (!TenantIdSchema.safeParse(tenant).success) throw new PolicyLoadError(`${show(path)}: ${tenant} is not a tenant id (lowercase letters, digits and dashes)`);
      files.push({ file: show(path), text: readFileSync(path, 'utf8'), tenant });
    }
  }

  const policies: Record<string, cedar.PolicyJson> = {};
  const sources: Record<string, string> = {};
  for (const { file, text, tenant } of files) {
    const parsed = cedar.checkParsePolicySet({ staticPolicies: text });
    if (parsed.type === 'failure') throw failure(file, text, parsed.errors[0]!);
    const validated = cedar.validate({ schema, policies: { staticPolicies: text }, validationSettings: { mode: 'strict' } });
    if (validated.type === 'failure') throw failure(file, text, validated.errors[0]!);
    const invalid = validated.validationErrors[0];
    if (invalid) throw failure(file, text, invalid.error);
    for (const part of splitPolicies(text)) {
      const at = `${file}:${lineOf(text, part.at)}`;
      const json = cedar.policyToJson(part.text);
      if (json.type === 'failure') throw new PolicyLoadError(`${at}: ${oneLine(json.errors[0]!.message)}`);
      const policy = json.json;
      const id = policy.annotations?.id;
      if (!id) throw new PolicyLoadError(`${at}: the policy has no @id("…") annotation (a decision names it)`);
      if (policies[id]) throw new PolicyLoadError(`${at}: @id("${id}") is already used at ${sources[id]}`);
      if (tenant !== undefined) {
        if (policy.effect !== 'forbid') throw new PolicyLoadError(`${at}: a tenant's policy may only forbid (permits are the platform's)`);
        policy.conditions = [ofTenant(tenant), ...policy.conditions];
      }
      policies[id] = policy;
      sources[id] = at;
    }
  }
  return { schema, policies, sources };
};

const KNOWN_ROLES_CACHE = 1000;
const DECISIONS_CACHE = 10_000;
let instances = 0;

/** The access policy of a policies folder, loaded once: build it once per container. */
export const cedarAccessPolicy = (dir: string, options: { tools?: readonly string[]; displayRoot?: string } = {}): AccessPolicy & { policyIds: readonly string[] } => {
  const loaded = loadPolicies(dir, options.displayRoot);
  const id = `switchboard-${++instances}`;
  const setParsed = cedar.preparsePolicySet(id, { staticPolicies: loaded.policies });
  if (setParsed.type === 'failure') throw new PolicyLoadError(`policy set: ${oneLine(setParsed.errors[0]!.message)}`);
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

/** Where a function finds its policies, relative to its code root: the bundle ships them there, the source tree has them there. */
export const DEFAULT_POLICIES_DIR = 'lib/policies';

/**
 * The policies folder of a function: POLICIES_DIR (default lib/policies), relative to the code root
 * (LAMBDA_TASK_ROOT on AWS, the project root when the local cloud runs the source).
 */
export const policiesDirOf = (rawEnv: Readonly<Record<string, string | undefined>>, cwd = process.cwd()): string =>
  resolve(rawEnv.LAMBDA_TASK_ROOT ?? cwd, rawEnv.POLICIES_DIR ?? DEFAULT_POLICIES_DIR);
