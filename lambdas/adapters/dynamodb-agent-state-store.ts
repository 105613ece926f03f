import { type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { updateIf } from './dynamodb-update-if';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { agentKeys, TASKS_TABLE } from '../contracts/tasks-table';
import type { AgentHealth, AgentState, AgentStateStore } from '../domain/agent-routing';
import { ConcurrencyError } from '../domain/errors';

/** How long a list of agents is reused (the router's candidates; every lease re-reads its agent). */
export const AGENT_LIST_TTL_MS = 1_000;

/**
 * Agents' routing state in the tasks table: one item per agent in one partition (`AGENTS`,
 * `AGENT#<id>`, no index rows). Leases are single atomic updates (in-flight ± 1, conditional on
 * the limit and the breaker); health (statistics, breaker) is written conditional on its version. One partition keeps the
 * list one query; its write rate (about 1,000 small writes a second) bounds calls per second across
 * all agents: shard it before that (docs/agents.md).
 */
export class DynamoDbAgentStateStore implements AgentStateStore {
  private readonly doc: DynamoDBDocumentClient;
  private cached?: { at: number; states: AgentState[] };

  constructor(client: DynamoDBClient, private readonly tableName: string) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async list(): Promise<AgentState[]> {
    if (this.cached && Date.now() - this.cached.at < AGENT_LIST_TTL_MS) return this.cached.states;
    const states: AgentState[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': TASKS_TABLE.partitionKey },
          ExpressionAttributeValues: { ':pk': agentKeys.partition },
          ExclusiveStartKey,
        }),
      );
      states.push(...(page.Items ?? []).map(fromItem));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    this.cached = { at: Date.now(), states };
    return states;
  }

  async get(agentId: string): Promise<AgentState | undefined> {
    const { Item } = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keyOf(agentId), ConsistentRead: true }));
    return Item ? fromItem(Item) : undefined;
  }

  async register(agent: Pick<AgentState, 'agentId' | 'kind' | 'capabilities' | 'maxConcurrency' | 'weight' | 'registration'>, now: Date): Promise<void> {
    // What it serves and its limits are set; its health and leases start once, and are kept after.
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keyOf(agent.agentId),
        UpdateExpression:
          'SET agentId = :id, kind = :kind, capabilities = :caps, maxConcurrency = :max, weight = :weight, updatedAt = :now, ' +
          'inFlight = if_not_exists(inFlight, :zero), ewmaLatencyMs = if_not_exists(ewmaLatencyMs, :zero), successRate = if_not_exists(successRate, :one), ' +
          'calls = if_not_exists(calls, :zero), circuit = if_not_exists(circuit, :closed), consecutiveFailures = if_not_exists(consecutiveFailures, :zero), ' +
          '#version = if_not_exists(#version, :zero)' +
          (agent.registration ? ', registration = :registration' : ''),
        ExpressionAttributeNames: { '#version': 'version' },
        ExpressionAttributeValues: {
          ':id': agent.agentId, ':kind': agent.kind, ':caps': [...agent.capabilities], ':max': agent.maxConcurrency, ':weight': agent.weight,
          ':now': now.toISOString(), ':zero': 0, ':one': 1, ':closed': 'closed',
          ...(agent.registration ? { ':registration': agent.registration } : {}),
        },
      }),
    );
    this.cached = undefined;
  }

  async deregister(agentId: string): Promise<boolean> {
    const { Attributes } = await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: keyOf(agentId), ReturnValues: 'ALL_OLD' }));
    this.cached = undefined;
    return Attributes !== undefined;
  }

  async lease(agentId: string, probe: boolean): Promise<boolean> {
    return updateIf(this.doc, {
      TableName: this.tableName,
      Key: keyOf(agentId),
      UpdateExpression: 'SET inFlight = inFlight + :one',
      ConditionExpression: probe ? 'inFlight < maxConcurrency AND circuit = :half AND probing = :yes' : 'inFlight < maxConcurrency AND circuit = :closed',
      ExpressionAttributeValues: { ':one': 1, ...(probe ? { ':half': 'half_open', ':yes': true } : { ':closed': 'closed' }) },
    });
  }

  async unlease(agentId: string): Promise<void> {
    await updateIf(this.doc, {
      TableName: this.tableName,
      Key: keyOf(agentId),
      // Calls are counted here, atomically: exact under any contention (the averages are best effort).
      UpdateExpression: 'SET inFlight = inFlight - :one, calls = calls + :one',
      ConditionExpression: 'inFlight > :zero',
      ExpressionAttributeValues: { ':one': 1, ':zero': 0 },
    });
  }

  async saveHealth(agentId: string, health: AgentHealth, expectedVersion: number, now: Date): Promise<void> {
    const written = await updateIf(this.doc, {
      TableName: this.tableName,
      Key: keyOf(agentId),
      UpdateExpression:
        'SET ewmaLatencyMs = :lat, successRate = :ok, consecutiveFailures = :fails, circuit = :circuit, updatedAt = :now, #version = :next' +
        (health.openedAt !== undefined ? ', openedAt = :opened' : '') +
        (health.probing ? ', probing = :yes' : '') +
        [health.openedAt === undefined ? 'openedAt' : '', health.probing ? '' : 'probing'].filter(Boolean).map((n, i) => `${i === 0 ? ' REMOVE ' : ', '}${n}`).join(''),
      ConditionExpression: '#version = :expected',
      ExpressionAttributeNames: { '#version': 'version' },
      ExpressionAttributeValues: {
        ':lat': health.ewmaLatencyMs, ':ok': health.successRate, ':fails': health.consecutiveFailures,
        ':circuit': health.circuit, ':now': now.toISOString(), ':next': expectedVersion + 1, ':expected': expectedVersion,
        ...(health.openedAt !== undefined ? { ':opened': health.openedAt } : {}),
        ...(health.probing ? { ':yes': true } : {}),
      },
    });
    if (!written) throw new ConcurrencyError(`agent ${agentId} changed`);
    this.cached = undefined;
  }
}

const keyOf = (agentId: string) => ({ [TASKS_TABLE.partitionKey]: agentKeys.partition, [TASKS_TABLE.sortKey]: agentKeys.agent(agentId) });

const fromItem = (item: Record<string, unknown>): AgentState => {
  const { [TASKS_TABLE.partitionKey]: _pk, [TASKS_TABLE.sortKey]: _sk, ...state } = item;
  return state as unknown as AgentState;
};
