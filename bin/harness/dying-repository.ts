import type { TaskPatch, TaskRepository } from '../../lambdas/domain/ports';
import type { Task } from '../../lambdas/domain/task';

/** What a crash test throws where the process "dies". */
export class ProcessDied extends Error {}

/** The write about to happen: its kind, and how many writes and updates came before, this one included. */
export interface PendingWrite {
  kind: 'create' | 'update';
  writes: number;
  updates: number;
}

/**
 * Delegates to a real repository and "kills the process" (throws ProcessDied) right before the
 * writes `diesAt` picks: the one repository the crash tests share, so a new port method is added
 * here once.
 */
export class DyingRepository implements TaskRepository {
  private writes = 0;
  private updates = 0;

  constructor(private readonly inner: TaskRepository, private readonly diesAt: (write: PendingWrite) => boolean) {}

  private write(kind: PendingWrite['kind']) {
    this.writes += 1;
    if (kind === 'update') this.updates += 1;
    if (this.diesAt({ kind, writes: this.writes, updates: this.updates })) throw new ProcessDied(`process died before write ${this.writes}`);
  }

  async create(task: Task) { this.write('create'); return this.inner.create(task); }
  async update(task: Task, patch: TaskPatch, now: Date) { this.write('update'); return this.inner.update(task, patch, now); }
  get(...args: Parameters<TaskRepository['get']>) { return this.inner.get(...args); }
  list(...args: Parameters<TaskRepository['list']>) { return this.inner.list(...args); }
  listLiveRuns(...args: Parameters<TaskRepository['listLiveRuns']>) { return this.inner.listLiveRuns(...args); }
  listDispatchPending(...args: Parameters<TaskRepository['listDispatchPending']>) { return this.inner.listDispatchPending(...args); }
  listRedrivable(...args: Parameters<TaskRepository['listRedrivable']>) { return this.inner.listRedrivable(...args); }
  listPromotable(...args: Parameters<TaskRepository['listPromotable']>) { return this.inner.listPromotable(...args); }
  listClaimable(...args: Parameters<TaskRepository['listClaimable']>) { return this.inner.listClaimable(...args); }
}
