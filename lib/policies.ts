import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_POLICIES_DIR, loadPolicies, type LoadedPolicies } from '../lambdas/contracts/access-policies';
import { PROJECT_ROOT } from './constructs/switchboard-function';

/**
 * The access policies (Cedar): `lib/policies/switchboard.cedarschema`, `platform.cedar` and each
 * tenant's `tenants/<tenant>.cedar`. Checked at synth exactly as the gateway loads them, so a
 * malformed file fails `cdk synth` and `npm start` with one line naming file:line.
 */

/** Where the policies are in the source tree, and (the same relative path) in the gateway's bundle. */
export const POLICIES_PATH = DEFAULT_POLICIES_DIR;
export const POLICIES_DIR = join(PROJECT_ROOT, POLICIES_PATH);

export { PolicyLoadError } from '../lambdas/contracts/access-policies';

/** Parses and validates the policies of `dir` against their schema; throws a PolicyLoadError (`file:line: …`). */
export const loadAccessPolicies = (dir: string = POLICIES_DIR): LoadedPolicies =>
  loadPolicies(cedar, { exists: existsSync, list: (d) => readdirSync(d), read: (path) => readFileSync(path, 'utf8') }, dir, PROJECT_ROOT);
