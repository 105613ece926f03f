import * as z from 'zod';
import { LLM_PLACEHOLDER, LlmCapabilityConfigSchema, type LlmCapabilityConfig, type LlmCapabilityConfigInput } from '../contracts/llm';
import { ValidationError } from '../domain/errors';
import type { Agent } from '../domain/ports';
import { toAgent, type AgentModule } from './agent';

/**
 * An LLM step: a capability (`llm.summarize`, say) whose run renders its prompt template from the
 * task's input, asks a model once through the Converse API and returns the text, the token counts
 * and their cost. The call goes through an injected `Converse` function (the Bedrock adapter is
 * lambdas/adapters/bedrock-converse.ts), so this file stays free of the AWS SDK.
 */

/** What is sent: the Converse API's request, narrowed to what an LLM step uses (same field names). */
export interface ConverseRequest {
  modelId: string;
  messages: { role: 'user'; content: { text: string }[] }[];
  system?: { text: string }[];
  inferenceConfig: { maxTokens: number; temperature?: number };
}

/** What comes back: the reply's text blocks joined, why the model stopped, the tokens counted. */
export interface ConverseReply {
  text: string;
  stopReason: string;
  usage: { inputTokens: number; outputTokens: number };
}

/** Throws one of the Llm*Error below on failure; stops when `signal` aborts. */
export type Converse = (request: ConverseRequest, signal?: AbortSignal) => Promise<ConverseReply>;

/** A failed model call. `retryable`: the same call may succeed later (throttled, timed out, unavailable). */
export abstract class LlmError extends Error {
  abstract readonly retryable: boolean;
}

/** The model's rate or token quota is used up for now (ThrottlingException, ServiceQuotaExceededException). */
export class LlmThrottledError extends LlmError {
  override name = 'LlmThrottled';
  readonly retryable = true;
}

/** The model took too long (ModelTimeoutException) or is not ready / the service is unavailable. */
export class LlmUnavailableError extends LlmError {
  override name = 'LlmUnavailable';
  readonly retryable = true;
}

/** The service refused the request (validation, access, unknown model, model error): retrying will not help. */
export class LlmRejectedError extends LlmError {
  override name = 'LlmRejected';
  readonly retryable = false;
}

/** The call was stopped by its signal (the task cancelled or out of time). */
export class LlmAbortedError extends LlmError {
  override name = 'LlmAborted';
  readonly retryable = false;
}

/** How long one LLM step may run (a Converse call of up to a few thousand output tokens). */
export const LLM_STEP_TIMEOUT_SECONDS = 120;

export const LlmStepOutputSchema = z
  .object({
    text: z.string(),
    stopReason: z.string(),
    usage: z.object({ inputTokens: z.number().int().nonnegative(), outputTokens: z.number().int().nonnegative(), costUsd: z.number().nonnegative() }).strict(),
    modelId: z.string(),
  })
  .strict();
export type LlmStepOutput = z.infer<typeof LlmStepOutputSchema>;

const JsonObjectSchema = z.record(z.string(), z.unknown());

/** The value at `path` (segments after `input`), own properties only; undefined when any segment is missing. */
const valueAt = (input: unknown, segments: readonly string[]): unknown => {
  let current: unknown = input;
  for (const segment of segments) {
    if (current === null || typeof current !== 'object') return undefined;
    if (Array.isArray(current)) {
      if (!/^(0|[1-9][0-9]*)$/.test(segment)) return undefined;
      current = current[Number(segment)];
    } else {
      if (!Object.hasOwn(current, segment)) return undefined;
      current = (current as Record<string, unknown>)[segment];
    }
  }
  return current;
};

/**
 * The template with each placeholder replaced by the input's value at its path; a path with no
 * value is a ValidationError naming every such placeholder. Plain lookups only, never evaluated.
 */
export const renderPrompt = (template: string, input: unknown): string => {
  const missing: string[] = [];
  const rendered = template.replace(LLM_PLACEHOLDER, (placeholder: string, json: string | undefined, path: string) => {
    const value = valueAt(input, path ? path.slice(1).split('.') : []);
    if (value === undefined) {
      missing.push(placeholder);
      return '';
    }
    return typeof value === 'string' && !json ? value : JSON.stringify(value);
  });
  if (missing.length > 0) throw new ValidationError(`input has no value for ${missing.join(', ')}`);
  return rendered;
};

/** USD for the tokens at the configured prices, rounded to a nano-dollar. */
export const costOf = (prices: LlmCapabilityConfig['prices'], inputTokens: number, outputTokens: number): number =>
  Math.round(((inputTokens / 1000) * prices.inputPer1kTokensUsd + (outputTokens / 1000) * prices.outputPer1kTokensUsd) * 1e9) / 1e9;

/** The Converse request an LLM step sends for `input`. */
export const converseRequestFor = (config: LlmCapabilityConfig, input: unknown): ConverseRequest => ({
  modelId: config.modelId,
  messages: [{ role: 'user', content: [{ text: renderPrompt(config.promptTemplate, input) }] }],
  ...(config.system !== undefined ? { system: [{ text: config.system }] } : {}),
  inferenceConfig: { maxTokens: config.maxTokens, ...(config.temperature !== undefined ? { temperature: config.temperature } : {}) },
});

/** Bedrock resources a Converse call on `modelId` needs `bedrock:InvokeModel` on. */
const modelResources = (modelId: string): string[] => {
  if (modelId.startsWith('arn:')) return [modelId];
  // A cross-region inference profile (us., eu., apac., global. …) reaches the model in several regions.
  const profile = /^[a-z]{2,6}\.(.+)$/.exec(modelId);
  return profile && profile[1]!.includes('.')
    ? [`arn:aws:bedrock:*:*:inference-profile/${modelId}`, `arn:aws:bedrock:*::foundation-model/${profile[1]}`]
    : [`arn:aws:bedrock:*::foundation-model/${modelId}`];
};

/** The LLM step as an agent module (manifest, schemas, run). */
export const llmModule = (config: LlmCapabilityConfigInput, deps: { converse: Converse }): AgentModule<Record<string, unknown>, LlmStepOutput> => {
  const parsed = LlmCapabilityConfigSchema.parse(config);
  return {
    manifest: { name: parsed.name, timeoutSeconds: LLM_STEP_TIMEOUT_SECONDS, permissions: [{ actions: ['bedrock:InvokeModel'], resources: modelResources(parsed.modelId) }] },
    description: `Asks ${parsed.modelId} once with a prompt rendered from the input; returns its text, token counts and cost.`,
    input: JsonObjectSchema,
    output: LlmStepOutputSchema,
    run: async (input, context) => {
      const request = converseRequestFor(parsed, input);
      const reply = await deps.converse(request, context.signal);
      const { inputTokens, outputTokens } = reply.usage;
      return { text: reply.text, stopReason: reply.stopReason, usage: { inputTokens, outputTokens, costUsd: costOf(parsed.prices, inputTokens, outputTokens) }, modelId: parsed.modelId };
    },
  };
};

/** The LLM step as the worker runs it: capability `config.name`, input any JSON object. */
export const llmAgent = (config: LlmCapabilityConfigInput, deps: { converse: Converse }): Agent => toAgent(llmModule(config, deps));
