import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../lib/constructs/switchboard-function';
import { LOCK_FILE } from '../local-cloud/emulators';

const run = promisify(execFile);
const TSX = join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');

/** `bin/local.ts` (what `npm start` runs) as a child process, its output collected. */
export interface LocalProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** The exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Resolves with the first match of `pattern` in the output so far or to come; rejects on exit or timeout. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  stop(): Promise<void>;
}

export const spawnLocal = (args: string[], env: Record<string, string> = {}): LocalProcess => {
  const child = spawn(TSX, ['bin/local.ts', ...args], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const output = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream]!.on('data', (chunk: Buffer) => {
      output[stream] += chunk.toString();
      for (const check of waiters) check();
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => output.stdout,
    stderr: () => output.stderr,
    exited,
    waitFor: (stream, pattern, timeoutMs = 90_000) =>
      new Promise((resolve, reject) => {
        const done = () => {
          waiters.delete(check);
          clearTimeout(timer);
        };
        const check = () => {
          const match = pattern.exec(output[stream]);
          if (match) {
            done();
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${pattern} on ${stream} in ${timeoutMs} ms:\n${output.stderr}`));
        }, timeoutMs);
        waiters.add(check);
        check();
        void exited.then((code) => {
          if (!waiters.has(check)) return;
          // Output may still be in the pipes when the exit arrives.
          setTimeout(() => {
            check();
            if (!waiters.has(check)) return;
            done();
            reject(new Error(`local cloud exited with ${code} before ${pattern}:\n${output.stderr}`));
          }, 100);
        });
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
};

/** Runs `bin/local.ts` with `args` to its end (killing it after `timeoutMs`): its exit code and output. */
export const runLocal = async (args: string[], timeoutMs = 30_000) => {
  const local = spawnLocal(args);
  const timer = setTimeout(() => local.child.kill('SIGKILL'), timeoutMs);
  const code = await local.exited;
  clearTimeout(timer);
  await new Promise((resolve) => setTimeout(resolve, 50));
  return { code, stdout: local.stdout(), stderr: local.stderr() };
};

export interface LocalCloudProcess {
  mcpUrl: string;
  dataDir: string;
  /**
   * A token for `tenant` (every scope unless `scopes`, comma-separated families), signed by the token
   * CLI for this process's URL; with `inMemory`, only the one the process printed (acme, submitter).
   */
  token(tenant: string, roles?: string, subject?: string, scopes?: string): Promise<string>;
  process: LocalProcess;
  /** `kill -9` of the server itself (tsx runs it as a child process, whose pid the data folder's lock names). */
  crash(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts `bin/local.ts` (what `npm start` runs) on a free port and waits for its endpoint line.
 * State goes to a fresh data folder unless `inMemory` (then the issuer key is in the process too,
 * and `token()` hands out the token it printed).
 */
export const startLocalCloudProcess = async (
  options: { dataDir?: string; inMemory?: boolean; port?: number; args?: string[]; env?: Record<string, string> } = {},
): Promise<LocalCloudProcess> => {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'switchboard-e2e-'));
  const args = [
    '--port', String(options.port ?? 0), '--data-dir', dataDir, ...(options.inMemory ? ['--in-memory'] : []), ...(options.args ?? []),
  ];
  const local = spawnLocal(args, options.env);
  let mcpUrl: string;
  let printedToken: string | undefined;
  try {
    mcpUrl = (await local.waitFor('stdout', /Switchboard MCP endpoint: (\S+)/))[1]!;
    if (options.inMemory) printedToken = (await local.waitFor('stderr', /^export TOKEN=(\S+)$/m, 5_000))[1]!;
  } catch (error) {
    await local.stop();
    throw error;
  }
  return {
    mcpUrl,
    dataDir,
    process: local,
    token: async (tenant, roles = 'submitter', subject?: string, scopes?: string) => {
      if (printedToken) {
        if (tenant !== 'acme' || roles !== 'submitter' || scopes !== undefined) throw new Error('an --in-memory run prints a token for acme (submitter, every scope) only');
        return printedToken;
      }
      const args = [
        'bin/token.ts', '--tenant', tenant, '--roles', roles, '--data-dir', dataDir, '--url', new URL(mcpUrl).origin,
        ...(subject ? ['--subject', subject] : []), ...(scopes ? ['--scopes', scopes] : []),
      ];
      return (await run(TSX, args, { cwd: PROJECT_ROOT })).stdout.trim();
    },
    crash: async () => {
      const pid = Number.parseInt(readFileSync(join(dataDir, LOCK_FILE), 'utf8'), 10);
      process.kill(pid, 'SIGKILL');
      const wrapperGone = setTimeout(() => local.child.kill('SIGKILL'), 2_000);
      await local.exited;
      clearTimeout(wrapperGone);
    },
    stop: local.stop,
  };
};
