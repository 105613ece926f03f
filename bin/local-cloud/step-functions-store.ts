import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** What survives a restart of the local runtime: one JSON file per execution. Dates are epoch ms. */
export interface ExecutionRecord {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  input: string;
  status: ExecutionStatus;
  startDate: number;
  stopDate?: number;
  output?: string;
  error?: string;
  cause?: string;
}

export const RUNTIME_STOPPED_CAUSE = 'the local runtime stopped while this execution ran';

const STATUSES: readonly string[] = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'];

const isRecord = (value: unknown): value is ExecutionRecord => {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r.executionArn === 'string' && typeof r.stateMachineArn === 'string' && typeof r.name === 'string' &&
    typeof r.input === 'string' && typeof r.status === 'string' && STATUSES.includes(r.status) && typeof r.startDate === 'number'
  );
};

/** Writes each execution's record under `<dataDir>/stepfunctions/`, atomically (temp file, then rename). */
export class ExecutionFiles {
  private readonly dir: string;

  constructor(dataDir: string, private readonly log: (line: string) => void) {
    this.dir = join(dataDir, 'stepfunctions');
    mkdirSync(this.dir, { recursive: true });
  }

  save(record: ExecutionRecord): void {
    const file = join(this.dir, `${createHash('sha256').update(record.executionArn).digest('hex').slice(0, 40)}.json`);
    const temp = `${file}.${process.pid}.tmp`;
    try {
      writeFileSync(temp, JSON.stringify(record));
      renameSync(temp, file);
    } catch (error) {
      this.log(`step functions: could not save ${record.executionArn}: ${(error as Error).message}`);
    }
  }

  /** Every record a previous process left; unreadable files are reported and skipped. */
  loadAll(): ExecutionRecord[] {
    const records: ExecutionRecord[] = [];
    for (const entry of readdirSync(this.dir)) {
      if (!entry.endsWith('.json')) continue;
      try {
        const parsed: unknown = JSON.parse(readFileSync(join(this.dir, entry), 'utf8'));
        if (isRecord(parsed)) records.push(parsed);
        else this.log(`step functions: ${entry} is not an execution record; skipped`);
      } catch (error) {
        this.log(`step functions: could not read ${entry}: ${(error as Error).message}`);
      }
    }
    return records;
  }
}
