import { startFauxqs } from 'fauxqs';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
// @ts-expect-error dynalite ships no type declarations
import dynalite from 'dynalite';
import type { AwsClientConfig } from '../../lambdas/adapters/runtime';
import { LOCAL_ACCOUNT } from './provision';
import { startLocalSts, type AssumedSession } from './sts';

export interface Emulators {
  aws: AwsClientConfig;
  region: string;
  /** Receipt handles of the messages of a queue (by name) that some consumer holds right now. */
  heldReceipts(queueName: string): string[];
  /** The sessions the local STS handed out (the gateway's tenant-scoped sessions), oldest first. */
  stsSessions(): readonly AssumedSession[];
  stop(): Promise<void>;
}

export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const CREDENTIALS = LOCAL_CREDENTIALS;

/**
 * A failure the person running `npm start` can fix (a port in use, a data folder in use, …):
 * bin/local.ts prints its message as one line, without a stack trace.
 */
export class LocalCloudError extends Error {
  override name = 'LocalCloudError';
}

/** The data folder's lock file: it names the pid of the `npm start` that uses the folder. */
export const LOCK_FILE = 'local.lock';

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Claims `dataDir` for this process, so that a second `npm start` on it fails with one clear
 * line instead of inside the emulators (LevelDB: "Database is closed"). A lock left by a process
 * that no longer runs (killed with -9, say) is taken over silently. Returns the release, which
 * also runs when the process exits.
 */
export const lockDataDir = (dataDir: string): (() => void) => {
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (error) {
    throw new LocalCloudError(`cannot use ${dataDir} as the data folder: ${(error as Error).message}`);
  }
  const file = join(dataDir, LOCK_FILE);
  const mine = `${process.pid}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, mine, { flag: 'wx' });
      const release = () => {
        try {
          if (readFileSync(file, 'utf8') === mine) rmSync(file);
        } catch {
          // already gone
        }
      };
      process.once('exit', release);
      return () => {
        process.off('exit', release);
        release();
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new LocalCloudError(`cannot use ${dataDir} as the data folder: ${(error as Error).message}`);
      }
    }
    let holder: number;
    try {
      holder = Number.parseInt(readFileSync(file, 'utf8'), 10);
    } catch {
      continue; // released in between: try again
    }
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isRunning(holder)) {
      throw new LocalCloudError(
        `the data folder ${dataDir} is in use by another npm start (pid ${holder}): stop that one, or start with --data-dir <another folder> or --in-memory`,
      );
    }
    rmSync(file, { force: true }); // stale
  }
  throw new LocalCloudError(`could not lock the data folder ${dataDir} (${file}); is another npm start starting on it?`);
};

/**
 * Starts the embedded AWS-compatible emulators on loopback: dynalite (DynamoDB, LevelDB) and
 * fauxqs (SQS, SQLite), and an STS stand-in (AssumeRole with session tags, bin/local-cloud/sts.ts).
 * With a data directory their state survives restarts. None of them enforces IAM.
 */
export const startEmulators = async (options: { dataDir?: string; region: string }): Promise<Emulators> => {
  const dynamoPath = options.dataDir ? join(options.dataDir, 'dynamodb') : undefined;
  const sqsPath = options.dataDir ? join(options.dataDir, 'sqs') : undefined;
  for (const dir of [dynamoPath, sqsPath]) if (dir) mkdirSync(dir, { recursive: true });

  const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(dynamoPath ? { path: dynamoPath } : {}) });
  await new Promise<void>((resolve, reject) => {
    dynamo.once('error', reject);
    dynamo.listen(0, '127.0.0.1', () => resolve());
  });
  const dynamoPort = (dynamo.address() as AddressInfo).port;
  const sqs = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false, defaultRegion: options.region, ...(sqsPath ? { dataDir: sqsPath } : {}) });
  const sts = await startLocalSts({ accountId: LOCAL_ACCOUNT });

  return {
    region: options.region,
    aws: {
      dynamodb: { endpoint: `http://127.0.0.1:${dynamoPort}`, region: options.region, credentials: CREDENTIALS },
      sqs: { endpoint: sqs.address, region: options.region, credentials: CREDENTIALS, useQueueUrlAsEndpoint: false },
      sts: { endpoint: sts.endpoint, region: options.region, credentials: CREDENTIALS },
    },
    stsSessions: () => sts.sessions(),
    heldReceipts: (queueName) => sqs.inspectQueue(queueName)?.messages.inflight.map((entry) => entry.receiptHandle) ?? [],
    stop: async () => {
      await sqs.stop();
      await sts.stop();
      await new Promise<void>((resolve) => dynamo.close(() => resolve()));
    },
  };
};
