import * as z from 'zod';
import { NotFoundError } from '../errors';
import type { TaskRepository } from '../ports';
import type { StepStore } from '../workflow-ports';
import type { Principal } from '../principal';
import { TaskIdSchema, TaskStatusSchema, toView, type TaskView } from '../task';

export const GetTaskInputSchema = z.object({ taskId: TaskIdSchema.describe('The id submit_task returned.') }).strict();
export type GetTaskInput = z.infer<typeof GetTaskInputSchema>;

export const ListTasksInputSchema = z
  .object({
    status: TaskStatusSchema.optional().describe('Only tasks in this status.'),
    limit: z.number().int().min(1).max(100).default(20).describe('Page size, 1 to 100; default 20.'),
    cursor: z.string().min(1).max(2048).optional().describe('nextCursor from the previous page.'),
  })
  .strict();
export type ListTasksInput = z.input<typeof ListTasksInputSchema>;

/** A task of another tenant is indistinguishable from a task that does not exist. */
export const getTask = async (
  deps: { tasks: TaskRepository; steps?: StepStore },
  principal: Principal,
  input: GetTaskInput,
): Promise<TaskView> => {
  const { taskId } = GetTaskInputSchema.parse(input);
  const task = await deps.tasks.get(principal.tenantId, taskId);
  if (!task) throw new NotFoundError(`task ${taskId} not found`);
  if (task.workflow === undefined || !deps.steps) return toView(task);
  // A run: each step as its record says (outputs kept by reference are shown whole here).
  const steps = await deps.steps.list(task.tenantId, task.taskId);
  return {
    ...toView(task),
    steps: steps.map((step) => ({
      stepId: step.stepId,
      kind: step.kind,
      status: step.status,
      attempts: step.attempts,
      ...(step.output !== undefined ? { output: step.output } : {}),
      ...(step.error ? { error: step.error } : {}),
      startedAt: step.startedAt,
      ...(step.finishedAt ? { finishedAt: step.finishedAt } : {}),
    })),
  };
};

export const listTasks = async (
  deps: { tasks: TaskRepository },
  principal: Principal,
  input: ListTasksInput,
): Promise<{ tasks: TaskView[]; nextCursor?: string }> => {
  const query = ListTasksInputSchema.parse(input);
  const page = await deps.tasks.list(principal.tenantId, {
    limit: query.limit,
    ...(query.status ? { status: query.status } : {}),
    ...(query.cursor ? { cursor: query.cursor } : {}),
  });
  return { tasks: page.tasks.map(toView), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
};
