import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRequestTarget, tokenCommandFor } from '../../bin/local-cloud/cloud';
import { LocalCloudError, LOCK_FILE, lockDataDir } from '../../bin/local-cloud/emulators';
import { PROJECT_ROOT } from '../../lib/constructs/switchboard-function';

const tempDir = () => mkdtempSync(join(tmpdir(), 'switchboard-lock-'));
const nodeProcess = (script: string) => spawn(process.execPath, ['-e', script], { stdio: 'ignore' });

describe('the data folder lock', () => {
  const releases: (() => void)[] = [];
  const killers: (() => void)[] = [];
  afterEach(() => {
    for (const release of releases.splice(0)) release();
    for (const kill of killers.splice(0)) kill();
  });

  it('names this process while it holds the folder, and is gone once released', () => {
    const dir = tempDir();
    const release = lockDataDir(dir);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('refuses a folder a running process holds, naming the process and the folder', async () => {
    const dir = tempDir();
    const holder = nodeProcess('setTimeout(() => {}, 60_000)');
    killers.push(() => holder.kill('SIGKILL'));
    await new Promise((resolve) => holder.once('spawn', resolve));
    writeFileSync(join(dir, LOCK_FILE), `${holder.pid}\n`);
    expect(() => lockDataDir(dir)).toThrow(LocalCloudError);
    expect(() => lockDataDir(dir)).toThrow(`the data folder ${dir} is in use by another npm start (pid ${holder.pid})`);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(`${holder.pid}\n`);
  });

  it('takes over silently a lock left by a process that died (kill -9)', async () => {
    const dir = tempDir();
    const dead = nodeProcess('');
    await new Promise((resolve) => dead.once('exit', resolve));
    writeFileSync(join(dir, LOCK_FILE), `${dead.pid}\n`);
    releases.push(lockDataDir(dir));
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
  });

  it('takes over a lock that names no process', () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), 'garbage');
    releases.push(lockDataDir(dir));
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
  });

  it('refuses a data folder it cannot create, in one line', () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, '');
    expect(() => lockDataDir(join(file, 'data'))).toThrow(LocalCloudError);
    expect(() => lockDataDir(join(file, 'data'))).toThrow(`cannot use ${join(file, 'data')} as the data folder: ENOTDIR`);
  });

  it('leaves alone, on release, a lock that another process has taken since', () => {
    const dir = tempDir();
    const release = lockDataDir(dir);
    writeFileSync(join(dir, LOCK_FILE), '1\n');
    release();
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe('1\n');
  });
});

describe('the local HTTP server', () => {
  it('reads the request-target on a fixed origin, whatever the Host', () => {
    expect(parseRequestTarget('/mcp?a=1')?.pathname).toBe('/mcp');
    expect(parseRequestTarget('/mcp?a=1')?.searchParams.get('a')).toBe('1');
    // Not a protocol-relative URL to another host: the path stays the path.
    expect(parseRequestTarget('//evil.example/mcp')?.pathname).toBe('//evil.example/mcp');
    expect(parseRequestTarget('http://127.0.0.1:3000/mcp?b=2')?.href).toBe('http://localhost/mcp?b=2');
    for (const target of [undefined, '', '*', 'mcp', 'http://[/mcp', 'ftp://host/mcp', 'javascript:alert(1)']) {
      expect(parseRequestTarget(target), String(target)).toBeUndefined();
    }
  });

  it('gives the token command for the data folder, with --data-dir only off the default one', () => {
    expect(tokenCommandFor(join(PROJECT_ROOT, '.switchboard'))).toBe('npm run -s token -- --tenant acme --roles submitter');
    expect(tokenCommandFor('/tmp/data')).toBe('npm run -s token -- --tenant acme --roles submitter --data-dir /tmp/data');
    expect(tokenCommandFor("/tmp/it's here")).toBe(`npm run -s token -- --tenant acme --roles submitter --data-dir '/tmp/it'\\''s here'`);
  });
});
