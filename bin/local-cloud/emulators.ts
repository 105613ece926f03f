import { startFauxqs } from 'fauxqs';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
// @ts-expect-error dynalite ships no type declarations
import dynalite from 'dynalite';
import type { AwsClientConfig } from '../../lambdas/adapters/runtime';

export interface Emulators {
  aws: AwsClientConfig;
  region: string;
  stop(): Promise<void>;
}

const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * Starts the embedded AWS-compatible emulators on loopback: dynalite (DynamoDB, LevelDB) and
 * fauxqs (SQS, SQLite). With a data directory their state survives restarts.
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

  return {
    region: options.region,
    aws: {
      dynamodb: { endpoint: `http://127.0.0.1:${dynamoPort}`, region: options.region, credentials: CREDENTIALS },
      sqs: { endpoint: sqs.address, region: options.region, credentials: CREDENTIALS, useQueueUrlAsEndpoint: false },
    },
    stop: async () => {
      await sqs.stop();
      await new Promise<void>((resolve) => dynamo.close(() => resolve()));
    },
  };
};
