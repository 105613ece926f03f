import { BedrockRuntimeServiceException, ConverseCommand, type BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { LlmAbortedError, LlmRejectedError, LlmThrottledError, LlmUnavailableError, type Converse, type LlmError } from '../agents/llm-step';

/** Service errors a later call may get past, by the error class the SDK names. */
const THROTTLED = new Set(['ThrottlingException', 'ServiceQuotaExceededException']);
const UNAVAILABLE = new Set(['ModelTimeoutException', 'ModelNotReadyException', 'ServiceUnavailableException', 'InternalServerException']);

/** The SDK's error as one short LlmError; the service's own message is kept only for refusals (it names the bad field). */
const llmErrorOf = (error: unknown, modelId: string, signal: AbortSignal | undefined): LlmError => {
  const name = error instanceof Error ? error.name : '';
  if (signal?.aborted || name === 'AbortError') return new LlmAbortedError(`call to ${modelId} stopped: ${reasonOf(signal)}`);
  if (THROTTLED.has(name)) return new LlmThrottledError(`${modelId} is throttled; retry later`);
  if (UNAVAILABLE.has(name)) return new LlmUnavailableError(`${modelId} did not answer (${name}); retry later`);
  if (error instanceof BedrockRuntimeServiceException) {
    // Throttling answered by a proxy or an older endpoint as a bare 429 / 5xx.
    const status = error.$metadata.httpStatusCode ?? 0;
    if (status === 429) return new LlmThrottledError(`${modelId} is throttled; retry later`);
    if (status >= 500) return new LlmUnavailableError(`${modelId} did not answer (${status}); retry later`);
    return new LlmRejectedError(`${modelId} refused the request (${name}): ${error.message.slice(0, 200)}`);
  }
  // No answer from the service at all (network, DNS, credentials): may pass.
  return new LlmUnavailableError(`could not reach ${modelId}: ${(error instanceof Error ? error.message : String(error)).slice(0, 200)}`);
};

const reasonOf = (signal: AbortSignal | undefined): string => {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason.message : 'aborted';
};

/**
 * The LLM step's Converse function on Bedrock: one ConverseCommand per call, the signal passed as
 * the SDK's abortSignal. The client's own retries (maxAttempts, 3 by default) run first; what
 * still fails comes back as LlmThrottledError / LlmUnavailableError (retryable), LlmRejectedError
 * or LlmAbortedError.
 */
export const bedrockConverse =
  (client: BedrockRuntimeClient): Converse =>
  async (request, signal) => {
    try {
      const response = await client.send(new ConverseCommand(request), signal ? { abortSignal: signal } : {});
      const blocks = response.output?.message?.content ?? [];
      return {
        text: blocks.flatMap((block) => (block.text !== undefined ? [block.text] : [])).join(''),
        stopReason: response.stopReason ?? 'unknown',
        usage: { inputTokens: response.usage?.inputTokens ?? 0, outputTokens: response.usage?.outputTokens ?? 0 },
      };
    } catch (error) {
      throw llmErrorOf(error, request.modelId, signal);
    }
  };
