/**
 * `npm run bench -- --policy`: the access policy's cost in the gateway. Load: cedar-wasm's module
 * (compiling its .wasm) and lib/policies parsed, validated and pre-parsed, once per container.
 * Decision: one tool call decided with its arguments, cold (the first) and warm (mean of many), and
 * memoized (the same caller and arguments again), and a tools/list's set of allowed tools for a
 * role set not yet cached. (Under load the figures grow: compare with `uptime`.)
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../lib/constructs/switchboard-function';

export const policyBench = async (decisions = 5000) => {
  // A fresh process, as a new container: requiring the nodejs build reads and compiles the .wasm.
  const moduleMs = Number(
    execFileSync(process.execPath, ['-e', "const t = performance.now(); require('@cedar-policy/cedar-wasm/nodejs'); process.stdout.write(String(performance.now() - t));"], {
      cwd: PROJECT_ROOT,
    }).toString(),
  );
  const { cedarAccessPolicy } = await import('../lambdas/adapters/cedar-access-policy');
  const t1 = performance.now();
  const access = cedarAccessPolicy(join(PROJECT_ROOT, 'lib', 'policies'));
  const t2 = performance.now();
  const who = (roles: ('submitter' | 'admin' | 'viewer')[], tenantId = 'acme', subject = 'bench') => ({ tenantId, subject, roles });
  const c0 = performance.now();
  access.decide(who(['submitter']), 'submit_task', { capability: 'echo', priority: 'normal' });
  const cold = (performance.now() - c0) * 1000;
  // Evaluated: a new subject each time, so no memoized decision answers.
  const w0 = performance.now();
  for (let i = 0; i < decisions; i++) access.decide(who(['submitter'], 'acme', `s-${i}`), 'submit_task', { capability: 'echo', priority: i % 2 ? 'high' : 'critical' });
  const warm = ((performance.now() - w0) * 1000) / decisions;
  const m0 = performance.now();
  for (let i = 0; i < decisions; i++) access.decide(who(['submitter']), 'submit_task', { capability: 'echo', priority: i % 2 ? 'high' : 'critical' });
  const memo = ((performance.now() - m0) * 1000) / decisions;
  const l0 = performance.now();
  for (let i = 0; i < 200; i++) access.allowedTools(who(['admin'], `tenant-${i}`));
  const list = ((performance.now() - l0) * 1000) / 200;
  console.log(`access policy (cedar-wasm, ${access.policyIds.length} policies)`);
  console.log(`  load: module + wasm ${moduleMs.toFixed(1)} ms (fresh process), policies parsed/validated/pre-parsed ${(t2 - t1).toFixed(1)} ms`);
  console.log(`  decision: cold ${cold.toFixed(0)} µs, warm evaluated ${warm.toFixed(1)} µs, memoized ${memo.toFixed(1)} µs (means of ${decisions})`);
  console.log(`  tools/list (every tool decided, role set not cached): ${list.toFixed(0)} µs`);
};
