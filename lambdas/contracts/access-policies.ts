import { TenantIdSchema } from './tenant';

/**
 * The access policies' folder, as the CDK app checks it at synth and the gateway loads it: one
 * definition of its layout and its checks. `switchboard.cedarschema`, the platform's `*.cedar`, and
 * `tenants/<tenant>.cedar` (a tenant's own rules: `forbid` only, narrowed to that tenant's
 * principals). Cedar itself (cedar-wasm) and the file system are given by the caller, so this
 * module depends on nothing.
 */

/** The subset of cedar-wasm's API the checks use (structurally; see @cedar-policy/cedar-wasm). */
export interface CedarError {
  message: string;
  help: string | null;
  sourceLocations?: { start: number; end: number }[];
}
export interface CedarPolicyJson {
  effect: 'permit' | 'forbid';
  principal: unknown;
  action: unknown;
  resource: unknown;
  conditions: unknown[];
  annotations?: Record<string, string | null>;
}
export interface CedarChecks {
  checkParseSchema(schema: string): { type: 'success' } | { type: 'failure'; errors: CedarError[] };
  checkParsePolicySet(policies: { staticPolicies: string }): { type: 'success' } | { type: 'failure'; errors: CedarError[] };
  validate(call: { schema: string; policies: { staticPolicies: string }; validationSettings: { mode: 'strict' } }):
    | { type: 'failure'; errors: CedarError[] }
    | { type: 'success'; validationErrors: { policyId: string; error: CedarError }[] };
  policyToJson(policy: string): { type: 'success'; json: CedarPolicyJson } | { type: 'failure'; errors: CedarError[] };
}
/** Reading the folder (node:fs, or anything else). Paths are joined with `/`. */
export interface PolicyFiles {
  exists(path: string): boolean;
  list(dir: string): string[];
  read(path: string): string;
}

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
const where = (file: string, text: string, error: CedarError) => {
  const offset = error.sourceLocations?.[0]?.start;
  return `${file}${offset === undefined ? '' : `:${lineOf(text, offset)}`}`;
};
const failure = (file: string, text: string, error: CedarError): PolicyLoadError =>
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


/** `principal.tenant == Switchboard::Tenant::"<tenant>"`: the condition added to a tenant's policies. */
const ofTenant = (tenant: string) => ({
  kind: 'when',
  body: { '==': { left: { '.': { left: { Var: 'principal' }, attr: 'tenant' } }, right: { Value: { __entity: { type: `${NS}::Tenant`, id: tenant } } } } },
});

export interface LoadedPolicies {
  schema: string;
  /** Policy id (its `@id`) → policy, tenants' policies narrowed to their tenant. */
  policies: Record<string, CedarPolicyJson>;
  /** Each policy's file:line, for diagnostics. */
  sources: Record<string, string>;
}

/**
 * Reads and checks a policies folder: the schema parses; each file parses and validates against
 * the schema (strict); each policy has a unique `@id`; a tenant's file has only `forbid`s.
 * Throws a PolicyLoadError naming file:line. `displayRoot`: paths in messages are relative to it.
 */
export const loadPolicies = (cedar: CedarChecks, io: PolicyFiles, dir: string, displayRoot = dir): LoadedPolicies => {
  const join = (...parts: string[]) => parts.join('/');
  const root = displayRoot.endsWith('/') ? displayRoot : `${displayRoot}/`;
  const show = (path: string) => (path.startsWith(root) ? path.slice(root.length) : path);
  const { exists: existsSync, list: readdirSync } = io;
  const readFileSync = (path: string, _encoding: 'utf8') => io.read(path);
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
      const tenant = name.slice(0, -'.cedar'.length);
      if (!TenantIdSchema.safeParse(tenant).success) throw new PolicyLoadError(`${show(path)}: ${tenant} is not a tenant id (lowercase letters, digits and dashes)`);
      files.push({ file: show(path), text: readFileSync(path, 'utf8'), tenant });
    }
  }

  const policies: Record<string, CedarPolicyJson> = {};
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

/** Where a function finds its policies, relative to its code root: the bundle ships them there, the source tree has them there. */
export const DEFAULT_POLICIES_DIR = 'lib/policies';
