import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * `moto_server` (Python, shipped in the image) on a loopback port: an extra check of the KMS
 * adapters against a real KMS API beside the unit tests' fakes — never a path of `npm start`.
 */
export const MOTO_SERVER = spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' }).stdout.trim();

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });

/** Starts moto_server and waits until it answers; `stop()` ends it. Only call when MOTO_SERVER is set. */
export const startMoto = async (timeoutMs = 20_000): Promise<{ endpoint: string; stop(): void }> => {
  const port = await freePort();
  const child = spawn(MOTO_SERVER, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const up = await fetch(`${endpoint}/moto-api/`).then((response) => response.status < 500, () => false);
    if (up) break;
    if (Date.now() > deadline) {
      child.kill();
      throw new Error(`moto_server did not answer on ${endpoint} within ${timeoutMs / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { endpoint, stop: () => void child.kill() };
};

/** The credentials moto accepts. */
export const MOTO_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };
