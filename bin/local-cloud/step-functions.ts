import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ExecutionError, ExecutionTimeoutError, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import * as z from 'zod';
import { MAX_TIMER_SECONDS, prepareDefinition, type TaskSpec } from './step-functions-definition';
import { ExecutionFiles, RUNTIME_STOPPED_CAUSE, type ExecutionRecord, type ExecutionStatus } from './step-functions-store';

/**
 * A local AWS Step Functions endpoint for `@aws-sdk/client-sfn` (JSON 1.0 protocol), running the state machines of
 * the templates on aws-local-stepfunctions. What the library lacks and this fills in: per-entry task tokens and the
 * callback API, HeartbeatSeconds, the Lambda integrations' result and error shapes, AWS's default Task timeout,
 * StopExecution of a waiting Task, execution history, named (idempotent) executions and records that survive a restart.
 */

type JSONValue = Parameters<StateMachine['run']>[0];
type LibraryEvent = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

export interface LocalStepFunctionsOptions {
  region: string;
  account: string;
  /** Runs a Lambda function (name or ARN, as the definition names it); a throw is the function's error. */
  invoke(functionNameOrArn: string, payload: unknown): Promise<unknown>;
  /** With it, each execution's record is kept in `<dataDir>/stepfunctions/` and outlives the process. */
  dataDir?: string;
  log?(line: string): void;
  /** Multiplies every Retry's IntervalSeconds and MaxDelaySeconds (backoff kept): tests pass e.g. 0.01. Default 1. */
  retryIntervalScale?: number;
}

export interface LocalStateMachine {
  arn: string;
  name: string;
  type: 'STANDARD' | 'EXPRESS';
  definition: object;
  /** Per Wait state name, the pause in ms to use instead of the state's own (tests). */
  waitTimeOverrides?: Record<string, number>;
}

interface RegisteredMachine extends LocalStateMachine {
  runner: StateMachine;
  tasks: Map<string, TaskSpec>;
}

interface HistoryEvent {
  id: number;
  previousEventId: number;
  timestamp: number;
  type: string;
  [details: string]: unknown;
}

interface Execution {
  record: ExecutionRecord;
  events: HistoryEvent[];
  /** Settles the Task attempts still open, so no token, timer or promise outlives the execution. */
  cancels: Set<() => void>;
  controller?: AbortController;
  done?: Promise<void>;
  /** Loaded from dataDir: its history was not kept. */
  restored?: boolean;
}

interface PendingTask {
  succeed(output: JSONValue): void;
  fail(error: string, cause: string): void;
  heartbeat(): void;
}

/** An answer of the API: `__type` is what the SDK maps to its exception class. */
class ApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/** A Task's failure as the library sees it: `name` is the ASL error name that Retry and Catch match. */
class TaskFailure extends Error {
  constructor(
    name: string,
    cause: string,
    private readonly final = false,
  ) {
    super(cause);
    this.name = name;
  }
  // Read by the library: the task of a stopped execution is neither retried nor caught.
  get isRetryable(): boolean {
    return !this.final;
  }
  get isCatchable(): boolean {
    return !this.final;
  }
}

const TOKEN_FORMAT = /^[A-Za-z0-9_-]{64}$/;
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_INPUT_BYTES = 256 * 1024;
const DEFAULT_PAGE = 100;
const INVALID_NAME = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;
const TARGET_PREFIX = 'AWSStepFunctions.';

const seconds = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);
const lowerFirst = (text: string) => `${text.charAt(0).toLowerCase()}${text.slice(1)}`;

const parseJson = (text: string, type: string, what: string): JSONValue => {
  try {
    return JSON.parse(text) as JSONValue;
  } catch {
    throw new ApiError(type, `Invalid ${what}: not valid JSON`);
  }
};

/** Swaps the execution-wide token placeholder for this Task entry's own token, wherever the Parameters put it. */
const withToken = (value: JSONValue, placeholder: string, token: string): JSONValue => {
  if (typeof value === 'string') return value.replaceAll(placeholder, token);
  if (Array.isArray(value)) return value.map((item) => withToken(item, placeholder, token));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, withToken(item, placeholder, token)])) as JSONValue;
  }
  return value;
};

/** A function's throw, named as Lambda names it: the error's `name` as errorType, the cause its JSON. */
const lambdaFailure = (thrown: unknown): TaskFailure => {
  if (thrown instanceof TaskFailure) return thrown;
  if (thrown instanceof Error && thrown.name) {
    const cause = { errorType: thrown.name, errorMessage: thrown.message, trace: thrown.stack?.split('\n') ?? [] };
    return new TaskFailure(thrown.name, JSON.stringify(cause));
  }
  return new TaskFailure('Lambda.Unknown', 'The cause could not be determined because Lambda did not return an error type.');
};

const asJson = (value: unknown): JSONValue => JSON.parse(JSON.stringify(value ?? null)) as JSONValue;

const invokeResult = (payload: unknown, statusCode = 200): JSONValue =>
  asJson({
    ExecutedVersion: '$LATEST',
    Payload: payload ?? null,
    SdkHttpMetadata: { HttpStatusCode: statusCode },
    SdkResponseMetadata: { RequestId: randomUUID() },
    StatusCode: statusCode,
  });

const failureOf = (reason: unknown): { error?: string; cause?: string } => {
  const failure = reason instanceof ExecutionError ? reason.cause : reason;
  if (failure instanceof Error) return { error: failure.name || undefined, cause: failure.message || undefined };
  return { error: 'States.Runtime', cause: String(failure) };
};

const describe = (r: ExecutionRecord) => ({
  executionArn: r.executionArn,
  stateMachineArn: r.stateMachineArn,
  name: r.name,
  status: r.status,
  startDate: seconds(r.startDate),
  stopDate: seconds(r.stopDate),
  input: r.input,
  inputDetails: { included: true },
  output: r.output,
  outputDetails: r.output === undefined ? undefined : { included: true },
  error: r.error,
  cause: r.cause,
});

const page = <T>(items: T[], maxResults: number | undefined, nextToken: string | undefined) => {
  const start = nextToken === undefined ? 0 : Number(nextToken);
  if (!Number.isInteger(start) || start < 0 || start > items.length) throw new ApiError('InvalidToken', 'Invalid nextToken');
  const end = start + (maxResults || DEFAULT_PAGE);
  return { items: items.slice(start, end), nextToken: end < items.length ? String(end) : undefined };
};

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () =>
      size > MAX_BODY_BYTES ? reject(new ApiError('ValidationException', 'Request body over 1 MiB')) : resolve(Buffer.concat(chunks).toString('utf8')),
    );
    req.on('error', reject);
  });

const send = (res: ServerResponse, status: number, body: unknown) => {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': randomUUID() });
  res.end(JSON.stringify(body ?? {}));
};

const arn = z.string().min(1).max(2048);
const taskToken = z.string().min(1).max(2048);
const page_ = { maxResults: z.number().int().min(0).max(1000).optional(), nextToken: z.string().max(1024).optional() };
const startRequest = z.object({ stateMachineArn: arn, name: z.string().optional(), input: z.string().optional() });
const requests = {
  StartExecution: startRequest,
  StartSyncExecution: startRequest,
  DescribeExecution: z.object({ executionArn: arn }),
  StopExecution: z.object({ executionArn: arn, error: z.string().max(256).optional(), cause: z.string().max(32768).optional() }),
  SendTaskSuccess: z.object({ taskToken, output: z.string().max(MAX_INPUT_BYTES) }),
  SendTaskFailure: z.object({ taskToken, error: z.string().max(256).optional(), cause: z.string().max(32768).optional() }),
  SendTaskHeartbeat: z.object({ taskToken }),
  ListExecutions: z.object({ stateMachineArn: arn, statusFilter: z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']).optional(), ...page_ }),
  GetExecutionHistory: z.object({ executionArn: arn, reverseOrder: z.boolean().optional(), ...page_ }),
};

const parseRequest = <S extends z.ZodType>(schema: S, body: unknown): z.infer<S> => {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const at = issue?.path.length ? issue.path.join('.') : 'request';
  throw new ApiError('ValidationException', `1 validation error detected: Value at '${at}' failed to satisfy constraint: ${issue?.message ?? 'invalid'}`);
};

export class LocalStepFunctions {
  private readonly machines = new Map<string, RegisteredMachine>();
  private readonly executions = new Map<string, Execution>();
  /** Every token handed out; 'closed' once its Task attempt ended (answered, timed out, or its execution stopped). */
  private readonly tokens = new Map<string, PendingTask | 'closed'>();
  /** What `$$.Task.Token` resolves to inside the library; each Task entry swaps it for a fresh random token. */
  private readonly tokenPlaceholder = `__sfn_local_task_token_${randomBytes(8).toString('hex')}__`;
  private readonly files?: ExecutionFiles;
  private readonly log: (line: string) => void;
  private server?: Server;

  private readonly operations = new Map<string, (body: unknown) => unknown>([
    ['StartExecution', (body) => this.startExecution(parseRequest(requests.StartExecution, body))],
    ['StartSyncExecution', (body) => this.startSyncExecution(parseRequest(requests.StartSyncExecution, body))],
    ['DescribeExecution', (body) => describe(this.execution(parseRequest(requests.DescribeExecution, body).executionArn).record)],
    ['StopExecution', (body) => this.stopExecution(parseRequest(requests.StopExecution, body))],
    ['SendTaskSuccess', (body) => this.sendTaskSuccess(parseRequest(requests.SendTaskSuccess, body))],
    ['SendTaskFailure', (body) => this.sendTaskFailure(parseRequest(requests.SendTaskFailure, body))],
    ['SendTaskHeartbeat', (body) => this.openTask(parseRequest(requests.SendTaskHeartbeat, body).taskToken).heartbeat()],
    ['ListExecutions', (body) => this.listExecutions(parseRequest(requests.ListExecutions, body))],
    ['GetExecutionHistory', (body) => this.executionHistory(parseRequest(requests.GetExecutionHistory, body))],
  ]);

  constructor(private readonly options: LocalStepFunctionsOptions) {
    this.log = options.log ?? (() => undefined);
    if (options.dataDir) {
      this.files = new ExecutionFiles(options.dataDir, this.log);
      for (const record of this.files.loadAll()) {
        if (record.status === 'RUNNING') {
          Object.assign(record, { status: 'ABORTED', stopDate: Date.now(), error: 'States.Runtime', cause: RUNTIME_STOPPED_CAUSE });
          this.files.save(record);
        }
        this.executions.set(record.executionArn, { record, events: [], cancels: new Set(), restored: true });
      }
    }
  }

  /** Adds a state machine; throws if its definition is invalid ASL or uses a Task resource not served locally. */
  register(machine: LocalStateMachine): void {
    if (!/^arn:aws[\w-]*:states:[\w-]+:\d{12}:stateMachine:[\w-]+$/.test(machine.arn)) throw new Error(`state machine ARN ${machine.arn} is malformed`);
    new StateMachine(machine.definition as StateMachineDefinition); // validates the definition as written
    const { definition, tasks } = prepareDefinition(machine.definition, this.options.retryIntervalScale);
    const runner = new StateMachine(definition as unknown as StateMachineDefinition, { validationOptions: { noValidate: true } });
    this.machines.set(machine.arn, { ...machine, runner, tasks });
  }

  async start(): Promise<{ endpoint: string }> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  }

  /** Aborts what runs (recorded as stopped by the runtime), then closes the server and every socket. */
  async stop(): Promise<void> {
    const running = [...this.executions.values()].filter((e) => e.record.status === 'RUNNING');
    for (const exec of running) this.close(exec, 'ABORTED', { error: 'States.Runtime', cause: RUNTIME_STOPPED_CAUSE });
    await Promise.allSettled(running.map((e) => e.done));
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.headers['x-amz-target'];
    try {
      const body = await readBody(req);
      const operation = req.method === 'POST' && typeof target === 'string' && target.startsWith(TARGET_PREFIX)
        ? this.operations.get(target.slice(TARGET_PREFIX.length))
        : undefined;
      if (!operation) throw new ApiError('UnknownOperationException', `Unknown operation ${String(target)}`);
      send(res, 200, await operation(parseJson(body.trim() || '{}', 'SerializationException', 'request body')));
    } catch (error) {
      if (error instanceof ApiError) return send(res, 400, { __type: error.type, message: error.message });
      this.log(`step functions: ${String(target)} failed: ${error instanceof Error ? error.stack : String(error)}`);
      send(res, 500, { __type: 'InternalFailure', message: 'Internal error' });
    }
  }

  private machine(stateMachineArn: string): RegisteredMachine {
    if (!stateMachineArn.includes(':stateMachine:')) throw new ApiError('InvalidArn', `Invalid Arn: '${stateMachineArn}'`);
    const machine = this.machines.get(stateMachineArn);
    if (!machine) throw new ApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
    return machine;
  }

  private execution(executionArn: string): Execution {
    if (!/:(execution|express):/.test(executionArn)) throw new ApiError('InvalidArn', `Invalid Arn: '${executionArn}'`);
    const exec = this.executions.get(executionArn);
    if (!exec) throw new ApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return exec;
  }

  private startExecution(request: z.infer<typeof startRequest>): { executionArn: string; startDate: number } {
    const exec = this.begin(request);
    return { executionArn: exec.record.executionArn, startDate: exec.record.startDate / 1000 };
  }

  private async startSyncExecution(request: z.infer<typeof startRequest>) {
    if (this.machine(request.stateMachineArn).type !== 'EXPRESS') {
      throw new ApiError('StateMachineTypeNotSupported', 'StartSyncExecution is only supported for EXPRESS state machines');
    }
    const exec = this.begin(request);
    await exec.done;
    const { inputDetails, outputDetails, ...result } = describe(exec.record);
    return { ...result, inputDetails, outputDetails };
  }

  /** Starts an execution, or returns the running one of the same name and input (AWS's idempotency for Standard). */
  private begin(request: z.infer<typeof startRequest>): Execution {
    const machine = this.machine(request.stateMachineArn);
    const input = request.input ?? '{}';
    if (Buffer.byteLength(input) > MAX_INPUT_BYTES) throw new ApiError('InvalidExecutionInput', 'Input over 256 KiB');
    const parsedInput = parseJson(input, 'InvalidExecutionInput', 'execution input');
    const name = request.name ?? randomUUID();
    if (name.length < 1 || name.length > 80 || INVALID_NAME.test(name)) throw new ApiError('InvalidName', `Invalid Name: '${name}'`);
    const [partition, , region, account] = machine.arn.split(':').slice(1);
    const executionArn = machine.type === 'EXPRESS'
      ? `arn:${partition}:states:${region}:${account}:express:${machine.name}:${name}:${randomUUID()}`
      : `arn:${partition}:states:${region}:${account}:execution:${machine.name}:${name}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      // AWS: same name and input while still running → the same execution; closed, or other input → an error.
      if (existing.record.status === 'RUNNING' && existing.record.input === input) return existing;
      throw new ApiError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    const record: ExecutionRecord = { executionArn, stateMachineArn: machine.arn, name, input, status: 'RUNNING', startDate: Date.now() };
    const exec: Execution = { record, events: [], cancels: new Set() };
    this.executions.set(executionArn, exec);
    this.files?.save(record);
    this.run(machine, exec, parsedInput);
    return exec;
  }

  private run(machine: RegisteredMachine, exec: Execution, input: JSONValue): void {
    const controller = new AbortController();
    const handlers = Object.fromEntries(
      [...machine.tasks.values()].map((spec) => [spec.stateName, (taskInput: JSONValue) => this.runTask(exec, spec, taskInput, controller.signal)]),
    );
    const execution = machine.runner.run(input, {
      overrides: { taskResourceLocalHandlers: handlers, waitTimeOverrides: machine.waitTimeOverrides },
      noThrowOnAbort: true,
      context: {
        Execution: { Id: exec.record.executionArn, Name: exec.record.name },
        StateMachine: { Id: machine.arn, Name: machine.name },
        Task: { Token: this.tokenPlaceholder },
      },
    });
    controller.signal.addEventListener('abort', () => execution.abort(), { once: true });
    const history = (async () => {
      for await (const event of execution.eventLogs) this.recordLibraryEvent(exec, event);
    })();
    exec.controller = controller;
    // The history is drained first, so the terminal event comes after every state event.
    exec.done = Promise.allSettled([execution.result, history]).then(([result]) => {
      if (exec.record.status !== 'RUNNING') return;
      if (result.status === 'fulfilled') this.close(exec, 'SUCCEEDED', { output: JSON.stringify(result.value) });
      else if (result.reason instanceof ExecutionTimeoutError) this.close(exec, 'TIMED_OUT', { error: 'States.Timeout', cause: 'The execution ran longer than its TimeoutSeconds' });
      else this.close(exec, 'FAILED', failureOf(result.reason));
    });
  }

  /** Ends an execution: its record, its terminal history event, and whatever of it still runs. */
  private close(exec: Execution, status: Exclude<ExecutionStatus, 'RUNNING'>, fields: { output?: string; error?: string; cause?: string }): void {
    Object.assign(exec.record, { status, stopDate: Date.now() }, fields);
    this.files?.save(exec.record);
    const type = { SUCCEEDED: 'ExecutionSucceeded', FAILED: 'ExecutionFailed', TIMED_OUT: 'ExecutionTimedOut', ABORTED: 'ExecutionAborted' }[status];
    this.addEvent(exec, type, status === 'SUCCEEDED' ? { output: fields.output } : { error: fields.error, cause: fields.cause });
    exec.controller?.abort();
    for (const cancel of [...exec.cancels]) cancel();
  }

  /**
   * One attempt of a Task state (the library calls it again on each retry). The library enforces TimeoutSeconds
   * itself, with the States.Timeout that States.TaskFailed must not match; the timers here retire the token and
   * enforce HeartbeatSeconds, which the library ignores.
   */
  private runTask(exec: Execution, spec: TaskSpec, input: JSONValue, signal: AbortSignal): Promise<JSONValue> {
    return new Promise<JSONValue>((resolve, reject) => {
      const token = randomBytes(48).toString('base64url');
      const timers = new Set<NodeJS.Timeout>();
      let open = true;
      const finish = (settle: () => void) => {
        if (!open) return;
        open = false;
        timers.forEach(clearTimeout);
        this.tokens.set(token, 'closed');
        exec.cancels.delete(cancel);
        settle();
      };
      const succeed = (output: JSONValue) =>
        finish(() => {
          this.taskEvent(exec, spec, 'Succeeded', { output: JSON.stringify(output) });
          resolve(output);
        });
      const fail = (failure: TaskFailure) =>
        finish(() => {
          this.taskEvent(exec, spec, 'Failed', { error: failure.name || undefined, cause: failure.message || undefined });
          reject(failure);
        });
      const timeOut = (error: string, cause: string, rejectWith?: TaskFailure) =>
        finish(() => {
          this.taskEvent(exec, spec, 'TimedOut', { error, cause });
          if (rejectWith) reject(rejectWith);
        });
      const cancel = () => finish(() => reject(new TaskFailure('States.Runtime', 'The execution stopped', true)));
      exec.cancels.add(cancel);
      if (signal.aborted || exec.record.status !== 'RUNNING') return cancel();

      // Created in the same tick as, and so firing just before, the library's own timer for this attempt.
      if (spec.timeoutSeconds !== undefined && spec.timeoutSeconds <= MAX_TIMER_SECONDS) {
        timers.add(setTimeout(() => timeOut('States.Timeout', `Task exceeded its TimeoutSeconds (${spec.timeoutSeconds} s)`), spec.timeoutSeconds * 1000));
      }
      let heartbeatTimer: NodeJS.Timeout | undefined;
      const heartbeat = () => {
        if (spec.heartbeatSeconds === undefined || !open) return;
        if (heartbeatTimer) {
          clearTimeout(heartbeatTimer);
          timers.delete(heartbeatTimer);
        }
        const cause = `No heartbeat within HeartbeatSeconds (${spec.heartbeatSeconds} s)`;
        heartbeatTimer = setTimeout(() => timeOut('States.HeartbeatTimeout', cause, new TaskFailure('States.HeartbeatTimeout', cause)), spec.heartbeatSeconds * 1000);
        timers.add(heartbeatTimer);
      };
      this.tokens.set(
        token,
        spec.kind === 'invoke-wait' ? { succeed, fail: (error, cause) => fail(new TaskFailure(error, cause)), heartbeat } : 'closed',
      );

      const perform = async () => {
        const parameters = withToken(input, this.tokenPlaceholder, token);
        this.taskEvent(exec, spec, 'Scheduled', spec.kind === 'function-arn'
          ? { input: JSON.stringify(parameters) }
          : { region: this.options.region, parameters: JSON.stringify(parameters) });
        this.taskEvent(exec, spec, 'Started', {});
        heartbeat();
        if (spec.kind === 'function-arn') return succeed(asJson(await this.options.invoke(spec.resource, parameters)));
        const call = parameters !== null && typeof parameters === 'object' && !Array.isArray(parameters) ? parameters : {};
        if (typeof call.FunctionName !== 'string') throw new TaskFailure('States.Runtime', `${spec.stateName}: Parameters.FunctionName must be a string`, true);
        if (call.InvocationType === 'Event') {
          this.options.invoke(call.FunctionName, call.Payload ?? {}).catch((e: unknown) => this.log(`step functions: async invoke of ${String(call.FunctionName)} failed: ${String(e)}`));
          return succeed(invokeResult('', 202));
        }
        const result = invokeResult(await this.options.invoke(call.FunctionName, call.Payload ?? {}));
        if (spec.kind === 'invoke') return succeed(result);
        if (open) this.taskEvent(exec, spec, 'Submitted', { output: JSON.stringify(result) });
      };
      // Deferred past pending microtasks, so the library's StateEntered is in the history before TaskScheduled.
      setImmediate(() => {
        if (open) perform().catch((thrown: unknown) => fail(lambdaFailure(thrown)));
      });
    });
  }

  private openTask(token: string): PendingTask {
    if (!TOKEN_FORMAT.test(token)) throw new ApiError('InvalidToken', 'Invalid Token');
    const task = this.tokens.get(token);
    if (task === undefined) throw new ApiError('TaskDoesNotExist', 'Task Does Not Exist');
    if (task === 'closed') throw new ApiError('TaskTimedOut', "Task Timed Out: 'Provided task does not exist anymore'");
    return task;
  }

  private sendTaskSuccess(request: z.infer<typeof requests.SendTaskSuccess>): object {
    const task = this.openTask(request.taskToken);
    task.succeed(parseJson(request.output, 'InvalidOutput', 'output'));
    return {};
  }

  private sendTaskFailure(request: z.infer<typeof requests.SendTaskFailure>): object {
    // Without an error name the failure still matches States.ALL and States.TaskFailed, and names none.
    this.openTask(request.taskToken).fail(request.error ?? '', request.cause ?? '');
    return {};
  }

  private stopExecution(request: z.infer<typeof requests.StopExecution>): { stopDate: number } {
    const exec = this.execution(request.executionArn);
    if (exec.record.status === 'RUNNING') this.close(exec, 'ABORTED', { error: request.error, cause: request.cause });
    return { stopDate: (exec.record.stopDate ?? Date.now()) / 1000 };
  }

  private listExecutions(request: z.infer<typeof requests.ListExecutions>) {
    const machine = this.machine(request.stateMachineArn);
    const matching = [...this.executions.values()]
      .map((e) => e.record)
      .filter((r) => r.stateMachineArn === machine.arn && (!request.statusFilter || r.status === request.statusFilter))
      .sort((a, b) => b.startDate - a.startDate);
    const { items, nextToken } = page(matching, request.maxResults, request.nextToken);
    const executions = items.map((r) => ({
      executionArn: r.executionArn, stateMachineArn: r.stateMachineArn, name: r.name, status: r.status,
      startDate: seconds(r.startDate), stopDate: seconds(r.stopDate),
    }));
    return { executions, nextToken };
  }

  private executionHistory(request: z.infer<typeof requests.GetExecutionHistory>) {
    const exec = this.execution(request.executionArn);
    const events = exec.restored ? this.restoredHistory(exec.record) : [...exec.events];
    if (request.reverseOrder) events.reverse();
    const { items, nextToken } = page(events, request.maxResults, request.nextToken);
    return { events: items, nextToken };
  }

  /** An execution from a previous process: only its start and its end are known. */
  private restoredHistory(r: ExecutionRecord): HistoryEvent[] {
    const start: HistoryEvent = { id: 1, previousEventId: 0, timestamp: r.startDate / 1000, type: 'ExecutionStarted', executionStartedEventDetails: { input: r.input } };
    if (r.status === 'RUNNING') return [start];
    const type = { SUCCEEDED: 'ExecutionSucceeded', FAILED: 'ExecutionFailed', TIMED_OUT: 'ExecutionTimedOut', ABORTED: 'ExecutionAborted' }[r.status];
    const details = r.status === 'SUCCEEDED' ? { output: r.output } : { error: r.error, cause: r.cause };
    return [start, { id: 2, previousEventId: 1, timestamp: (r.stopDate ?? r.startDate) / 1000, type, [`${lowerFirst(type)}EventDetails`]: details }];
  }

  private addEvent(exec: Execution, type: string, details?: object, detailsKey = `${lowerFirst(type)}EventDetails`): void {
    const id = exec.events.length + 1;
    exec.events.push({ id, previousEventId: id - 1, timestamp: Date.now() / 1000, type, ...(details && { [detailsKey]: details }) });
  }

  /** Task events as AWS names them: `Task*` for integrations, `LambdaFunction*` for a function ARN as Resource. */
  private taskEvent(exec: Execution, spec: TaskSpec, phase: 'Scheduled' | 'Started' | 'Submitted' | 'Succeeded' | 'Failed' | 'TimedOut', details: object): void {
    if (exec.record.status !== 'RUNNING') return;
    if (spec.kind === 'function-arn') {
      const extra = phase === 'Scheduled' ? { resource: spec.resource } : {};
      return this.addEvent(exec, `LambdaFunction${phase}`, phase === 'Started' ? undefined : { ...extra, ...details });
    }
    const resource = spec.kind === 'invoke' ? 'invoke' : 'invoke.waitForTaskToken';
    this.addEvent(exec, `Task${phase}`, { resourceType: 'lambda', resource, ...details });
  }

  /**
   * The library's events that have an AWS counterpart. Not mapped: StateRetried (a retry shows as the next
   * TaskScheduled, as on AWS), StateCaught (the catcher's next state shows), Parallel branch events, the library's
   * terminal events (written by close()) and a Task's StateFailed (runTask wrote TaskFailed/TaskTimedOut).
   */
  private recordLibraryEvent(exec: Execution, event: LibraryEvent): void {
    if (exec.record.status !== 'RUNNING') return;
    switch (event.type) {
      case 'ExecutionStarted':
        return this.addEvent(exec, 'ExecutionStarted', { input: JSON.stringify(event.input), inputDetails: { truncated: false } });
      case 'StateEntered':
        return this.addEvent(exec, `${event.state.type}StateEntered`, { name: event.state.name, input: JSON.stringify(event.state.input) }, 'stateEnteredEventDetails');
      case 'StateExited':
        return this.addEvent(exec, `${event.state.type}StateExited`, { name: event.state.name, output: JSON.stringify(event.state.output ?? null) }, 'stateExitedEventDetails');
      case 'StateFailed':
        if (event.state.type === 'Parallel' || event.state.type === 'Map') this.addEvent(exec, `${event.state.type}StateFailed`);
        return;
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
      case 'MapIterationFailed':
        return this.addEvent(exec, event.type, { name: event.parentState.name, index: event.index });
      default:
        return;
    }
  }
}
