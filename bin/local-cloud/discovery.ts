import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';

/**
 * How other commands on this machine (`npm run -s audit`) find a running `npm start`: it writes
 * `<data folder>/local-cloud.json` once it is ready and removes it when it stops. None for
 * `--in-memory`, which writes nothing to the data folder.
 */
export const LOCAL_CLOUD_FILE = 'local-cloud.json';
/** The local trail's folder in the data folder (bin/local-cloud/trail.ts). */
export const TRAIL_DIR = 'trail';

export const LocalCloudDiscoverySchema = z
  .object({
    pid: z.number().int().positive(),
    url: z.string().url(),
    mcpUrl: z.string().url(),
    region: z.string().min(1),
    dynamodbEndpoint: z.string().url(),
    /** The audit table (absent when the app defines none). */
    auditTable: z.string().min(1).optional(),
    trailDir: z.string().min(1),
    /** LOCAL ONLY: the P-256 key file that signs audit digests (docs/audit.md). */
    auditSigningKeyFile: z.string().min(1),
  })
  .strict();
export type LocalCloudDiscovery = z.infer<typeof LocalCloudDiscoverySchema>;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The running local cloud of `dataDir`; throws one line saying what to do when there is none. */
export const readLocalCloudDiscovery = (dataDir: string): LocalCloudDiscovery => {
  const file = join(dataDir, LOCAL_CLOUD_FILE);
  const none = `no local cloud is running on ${dataDir} (start one with npm start${dataDir.endsWith('.switchboard') ? '' : ` -- --data-dir ${dataDir}`}; an --in-memory one cannot be reached)`;
  if (!existsSync(file)) throw new Error(none);
  let parsed: ReturnType<typeof LocalCloudDiscoverySchema.safeParse>;
  try {
    parsed = LocalCloudDiscoverySchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    throw new Error(`${file} is not the local cloud's discovery file (not JSON)`);
  }
  if (!parsed.success) throw new Error(`${file} is not the local cloud's discovery file: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
  if (!alive(parsed.data.pid)) throw new Error(`${none}; ${file} is left from process ${parsed.data.pid}, which is gone`);
  return parsed.data;
};
