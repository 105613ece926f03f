import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../lib/constructs/switchboard-function';

const run = promisify(execFile);
const TSX = join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');

export interface LocalCloudProcess {
  mcpUrl: string;
  dataDir: string;
  token(tenant: string, roles?: string): Promise<string>;
  stop(): Promise<void>;
}

/** Starts `bin/local.ts` (what `npm start` runs) as a child process and waits for its endpoint line. */
export const startLocalCloudProcess = async (options: { dataDir?: string; inMemory?: boolean } = {}): Promise<LocalCloudProcess> => {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'switchboard-e2e-'));
  const args = ['bin/local.ts', '--port', '0', '--data-dir', dataDir, ...(options.inMemory === false ? [] : ['--in-memory'])];
  const child: ChildProcess = spawn(TSX, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const mcpUrl = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`local cloud did not start in 60 s:\n${stderr}`)), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /Switchboard MCP endpoint: (\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`local cloud exited with ${code}:\n${stderr}`));
    });
  });
  return {
    mcpUrl,
    dataDir,
    token: async (tenant, roles = 'submitter') =>
      (await run(TSX, ['bin/token.ts', '--tenant', tenant, '--roles', roles, '--data-dir', dataDir], { cwd: PROJECT_ROOT })).stdout.trim(),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
};
