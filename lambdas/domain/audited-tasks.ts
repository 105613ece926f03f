import { systemSubject } from '../contracts/audit';
import type { AuditStore } from './audit';
import type { Clock, Logger, TaskPatch, TaskRepository } from './ports';
import type { Task } from './task';
import { appendAudit } from './use-cases/audit';

/**
 * Task and workflow transitions in the tenant's audit log, recorded where they happen outside a tool
 * call (the worker, the workflow function, the reconciler, the dead-letter handler; a tool call's
 * own intent and outcome entries already name the task it changes). A TaskRepository decorator:
 * after each write that changes a task's status (or its priority: a promotion), one `transition`
 * entry `task.<status>` (`run.<status>` for a workflow run; `task.promoted`), subject
 * `system:<function>`, request id `<taskId>#v<version>` (the same for a replay of the same write, so
 * a duplicate is recognisable), target `task:<taskId>`.
 *
 * The write is the source of truth and is never undone: when the entry cannot be appended the
 * failure is logged (`audit transition not recorded`, an ERROR an alarm can watch) and the write
 * stands.
 */
export interface TransitionAuditDeps {
  store: AuditStore;
  clock: Clock;
  logger: Logger;
}

const actionOf = (task: Task, change: string) => `${task.workflow ? 'run' : 'task'}.${change}`;

export class AuditedTaskRepository implements TaskRepository {
  constructor(
    private readonly inner: TaskRepository,
    private readonly audit: TransitionAuditDeps,
    /** The function recording (`worker`, `workflow`, `reconciler`, `dead-letter`). */
    private readonly actor: string,
  ) {}

  private async record(task: Task, change: string): Promise<void> {
    try {
      await appendAudit(this.audit, {
        tenantId: task.tenantId,
        subject: systemSubject(this.actor),
        kind: 'transition',
        action: actionOf(task, change),
        decision: 'allow',
        outcome: task.status === 'failed' && task.error ? { status: 'error', code: task.error.code.slice(0, 64) } : { status: 'ok' },
        requestId: `${task.taskId}#v${task.version}`,
        target: `task:${task.taskId}`,
      });
    } catch (error) {
      this.audit.logger.error('audit transition not recorded', { tenantId: task.tenantId, taskId: task.taskId, change, error: String(error) });
    }
  }

  async create(task: Task): Promise<{ created: boolean; task: Task }> {
    const stored = await this.inner.create(task);
    if (stored.created) await this.record(stored.task, stored.task.status);
    return stored;
  }

  async update(task: Task, patch: TaskPatch, now: Date): Promise<Task> {
    const updated = await this.inner.update(task, patch, now);
    if (patch.status !== undefined && patch.status !== task.status) await this.record(updated, updated.status);
    else if (patch.priority !== undefined && patch.priority !== task.priority) await this.record(updated, 'promoted');
    return updated;
  }

  get: TaskRepository['get'] = (tenantId, taskId) => this.inner.get(tenantId, taskId);
  list: TaskRepository['list'] = (tenantId, query) => this.inner.list(tenantId, query);
  listLiveRuns: TaskRepository['listLiveRuns'] = (limit) => this.inner.listLiveRuns(limit);
  listDispatchPending: TaskRepository['listDispatchPending'] = (before, limit) => this.inner.listDispatchPending(before, limit);
  listRedrivable: TaskRepository['listRedrivable'] = (query) => this.inner.listRedrivable(query);
  listPromotable: TaskRepository['listPromotable'] = (query) => this.inner.listPromotable(query);
  listClaimable: TaskRepository['listClaimable'] = (query) => this.inner.listClaimable(query);
}
