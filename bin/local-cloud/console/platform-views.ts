import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { ENV } from '../../../lambdas/contracts';
import { PRIORITIES, type Priority } from '../../../lambdas/contracts/priorities';
import type { AgentStateStore } from '../../../lambdas/domain/agent-routing';
import type { LocalPlatform } from '../provision';

/** One queue as the console shows it: depths from SQS, the oldest message's age from the emulator. */
export interface QueueView {
  name: string;
  /** The priority whose queue this is; absent for the other queues (the dead-letter queues). */
  priority?: Priority;
  visible: number;
  inFlight: number;
  delayed: number;
  /** Seconds since the oldest message still in the queue was sent; 0 when empty. */
  oldestAgeSeconds: number;
}

export interface AgentLoadView {
  agentId: string;
  kind: string;
  capabilities: string[];
  inFlight: number;
  maxConcurrency: number;
  calls: number;
  ewmaLatencyMs: number;
  successRate: number;
  circuit: string;
}

/** What the console's operator panels read from the platform (injected: tests pass fakes). */
export interface PlatformViews {
  queues(): Promise<QueueView[]>;
  agents(): Promise<AgentLoadView[]>;
}

/** The emulator's inspection answer (`GET /_fauxqs/queues/<name>`), as far as the console reads it. */
const InspectionSchema = z.object({
  messages: z.object({
    ready: z.array(z.object({ sentTimestamp: z.number() })),
    delayed: z.array(z.object({ sentTimestamp: z.number() })),
    inflight: z.array(z.object({ message: z.object({ sentTimestamp: z.number() }) })),
  }),
});

/** The priority queues' URLs, read from the environment the templates give a function (no second list of queues). */
export const priorityQueueUrls = (platform: LocalPlatform): Map<string, Priority> => {
  const urls = new Map<string, Priority>();
  for (const fn of platform.functions.values()) {
    for (const priority of PRIORITIES) {
      const url = fn.environment[ENV.queueUrl(priority)];
      if (url) urls.set(url, priority);
    }
  }
  return urls;
};

/**
 * The local platform's views: every queue the templates declare, its depths through the real SQS
 * client (GetQueueAttributes, as on AWS) and — LOCAL ONLY, where AWS has CloudWatch's
 * ApproximateAgeOfOldestMessage — the oldest message's age from fauxqs's non-destructive
 * inspection endpoint; the agents' load and circuit from the agent state store in DynamoDB.
 */
export const localPlatformViews = (options: {
  platform: LocalPlatform;
  sqs: SQSClient;
  sqsEndpoint: string;
  agentStates: AgentStateStore;
  now?: () => number;
}): PlatformViews => {
  const now = options.now ?? Date.now;
  const priorities = priorityQueueUrls(options.platform);
  const rank = (view: QueueView) => (view.priority ? PRIORITIES.indexOf(view.priority) : PRIORITIES.length);

  const oldestSentAt = async (name: string): Promise<number | undefined> => {
    const response = await fetch(`${options.sqsEndpoint.replace(/\/$/, '')}/_fauxqs/queues/${encodeURIComponent(name)}`);
    if (!response.ok) return undefined;
    const { messages } = InspectionSchema.parse(await response.json());
    const sent = [...messages.ready, ...messages.delayed, ...messages.inflight.map((entry) => entry.message)].map((m) => m.sentTimestamp);
    return sent.length ? Math.min(...sent) : undefined;
  };

  const queue = async (url: string): Promise<QueueView> => {
    const name = url.split('/').pop()!;
    const { Attributes: attributes = {} } = await options.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
      }),
    );
    const sentAt = await oldestSentAt(name);
    const priority = priorities.get(url);
    return {
      name,
      ...(priority ? { priority } : {}),
      visible: Number(attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(attributes.ApproximateNumberOfMessagesDelayed ?? 0),
      oldestAgeSeconds: sentAt === undefined ? 0 : Math.max(0, Math.round((now() - sentAt) / 1000)),
    };
  };

  return {
    queues: async () => (await Promise.all([...options.platform.queues.values()].map(queue))).sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name)),
    agents: async () =>
      (await options.agentStates.list()).map((agent) => ({
        agentId: agent.agentId,
        kind: agent.kind,
        capabilities: [...agent.capabilities],
        inFlight: agent.inFlight,
        maxConcurrency: agent.maxConcurrency,
        calls: agent.calls,
        ewmaLatencyMs: Math.round(agent.ewmaLatencyMs),
        successRate: Math.round(agent.successRate * 1000) / 1000,
        circuit: agent.circuit,
      })),
  };
};
