import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { bedrockConverse } from '../../lambdas/adapters/bedrock-converse';
import { LlmAbortedError, LlmRejectedError, LlmThrottledError, LlmUnavailableError, llmAgent, type LlmStepOutput } from '../../lambdas/agents/llm-step';
import { LlmCapabilityConfigSchema, type LlmCapabilityConfigInput } from '../../lambdas/contracts/llm';
import { ValidationError } from '../../lambdas/domain/errors';
import { startConverseDouble, type ConverseDouble, type ConverseDoubleOptions } from '../../bin/harness/converse-double';

/** The LLM step through the real Bedrock Runtime client, pointed at the local Converse double. */

const SUMMARIZE: LlmCapabilityConfigInput = {
  name: 'llm.summarize',
  modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
  promptTemplate: 'Summarize "{{input.document.title}}" for {{input.audience}}:\n{{input.document.body}}\nTags: {{json input.tags}}',
  system: 'You write one-paragraph summaries.',
  maxTokens: 256,
  temperature: 0.2,
  prices: { inputPer1kTokensUsd: 0.25, outputPer1kTokensUsd: 1.25 },
};
const INPUT = { document: { title: 'Q3 report', body: 'Revenue grew nine percent.' }, audience: 'the board', tags: ['finance', 'q3'] };
const RENDERED = 'Summarize "Q3 report" for the board:\nRevenue grew nine percent.\nTags: ["finance","q3"]';
const context = (signal?: AbortSignal) => ({ tenantId: 'tenant-a', taskId: 'task-1', attempt: 1, ...(signal ? { signal } : {}) });

let double: ConverseDouble | undefined;
let client: BedrockRuntimeClient | undefined;
afterEach(async () => {
  client?.destroy();
  await double?.stop();
  [client, double] = [undefined, undefined];
});

/** The double, and the step on a real client against it (SDK retries off, so each call is one request). */
const setUp = async (options: ConverseDoubleOptions = {}, config: LlmCapabilityConfigInput = SUMMARIZE) => {
  double = await startConverseDouble(options);
  client = new BedrockRuntimeClient({
    endpoint: double.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' },
    maxAttempts: 1,
  });
  return { double, agent: llmAgent(config, { converse: bedrockConverse(client) }) };
};

describe('LLM step on the Converse API (real client, local double)', () => {
  it('renders the template from the input and sends it with the system prompt, maxTokens and temperature', async () => {
    const { double, agent } = await setUp();

    await agent.run(INPUT, context());

    expect(agent.capability).toBe('llm.summarize');
    expect(double.requests).toHaveLength(1);
    expect(double.requests[0]).toEqual({
      modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
      messages: [{ role: 'user', content: [{ text: RENDERED }] }],
      system: [{ text: 'You write one-paragraph summaries.' }],
      inferenceConfig: { maxTokens: 256, temperature: 0.2 },
    });
  });

  it('returns the text, the stop reason, the token counts and their cost at the configured prices', async () => {
    const { agent } = await setUp({ reply: () => ({ text: 'Revenue up 9%.', inputTokens: 1200, outputTokens: 400 }) });

    const result = (await agent.run(INPUT, context())) as LlmStepOutput;

    expect(result).toEqual({
      text: 'Revenue up 9%.',
      stopReason: 'end_turn',
      usage: { inputTokens: 1200, outputTokens: 400, costUsd: 0.8 },
      modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
    });
  });

  it("the double's default reply and word counts are deterministic", async () => {
    const { agent } = await setUp({}, { ...SUMMARIZE, system: undefined, maxTokens: undefined, temperature: undefined, promptTemplate: 'Summarize: {{input.text}}' });

    const result = (await agent.run({ text: 'one two three' }, context())) as LlmStepOutput;

    expect(result.text).toBe('summary of: Summarize: one two three');
    expect(result.usage.inputTokens).toBe(4);
    expect(result.usage.outputTokens).toBe(6);
    expect(double!.requests[0]!.inferenceConfig).toEqual({ maxTokens: 1024 });
    expect(double!.requests[0]!.system).toBeUndefined();
  });

  it('refuses an input without a value for a placeholder, naming it, and calls no model', async () => {
    const { double, agent } = await setUp();

    const run = agent.run({ document: { title: 'Q3 report' }, audience: 'the board', tags: [] }, context());

    await expect(run).rejects.toBeInstanceOf(ValidationError);
    await expect(run).rejects.toThrow('input has no value for {{input.document.body}}');
    expect(double.requests).toHaveLength(0);
  });

  it('does not reach through the prototype: {{input.constructor}} on a plain object is missing', async () => {
    const { agent } = await setUp({}, { ...SUMMARIZE, promptTemplate: '{{input.constructor}} {{input.__proto__}}' });

    await expect(agent.run({}, context())).rejects.toThrow('input has no value for {{input.constructor}}, {{input.__proto__}}');
  });

  it('a throttled call surfaces as LlmThrottled (retryable), and the caller’s retry then succeeds', async () => {
    const { double, agent } = await setUp({ failFirst: 1 });

    const first = await agent.run(INPUT, context()).catch((error: unknown) => error);
    const second = (await agent.run(INPUT, { ...context(), attempt: 2 })) as LlmStepOutput;

    expect(first).toBeInstanceOf(LlmThrottledError);
    expect(first).toMatchObject({ name: 'LlmThrottled', retryable: true });
    expect(second.text).toBe(`summary of: ${RENDERED.slice(0, 80)}`);
    expect(double.requests).toHaveLength(2);
  });

  it('a model timeout is LlmUnavailable (retryable); a validation error is LlmRejected (not retryable) with the reason', async () => {
    const timedOut = await setUp({ failFirst: 1, failWith: 'ModelTimeoutException' });
    await expect(timedOut.agent.run(INPUT, context())).rejects.toMatchObject({ name: 'LlmUnavailable', retryable: true });
    await timedOut.double.stop();

    const rejected = await setUp({ failFirst: 1, failWith: 'ValidationException' });
    const error = await rejected.agent.run(INPUT, context()).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LlmRejectedError);
    expect(error).toMatchObject({ retryable: false, message: expect.stringContaining('ValidationException') });
    expect(error).not.toBeInstanceOf(LlmUnavailableError);
  });

  it('the abort signal stops a slow call', async () => {
    const { double, agent } = await setUp({ delayMs: 10_000 });
    const controller = new AbortController();
    const started = Date.now();

    const run = agent.run(INPUT, context(controller.signal));
    setTimeout(() => controller.abort(new Error('task cancelled')), 200);

    await expect(run).rejects.toBeInstanceOf(LlmAbortedError);
    await expect(run).rejects.toThrow('task cancelled');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(double.requests).toHaveLength(1);
  });

  it('the double answers HTTP/1.1 clients too, as the service does (fetch: body, then an error type the SDK would map)', async () => {
    double = await startConverseDouble({ failFirst: 1 });
    const call = () =>
      fetch(`${double!.endpoint}/model/${encodeURIComponent('amazon.nova-micro-v1:0')}/converse`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'hello there' }] }] }),
      });

    const throttled = await call();
    const answered = await call();

    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('x-amzn-errortype')).toMatch(/^ThrottlingException:/);
    expect(await answered.json()).toMatchObject({
      output: { message: { role: 'assistant', content: [{ text: 'summary of: hello there' }] } },
      stopReason: 'end_turn',
      usage: { inputTokens: 2, outputTokens: 4, totalTokens: 6 },
    });
    expect(double.requests.map((request) => request.modelId)).toEqual(['amazon.nova-micro-v1:0', 'amazon.nova-micro-v1:0']);
  });

  it('the config refuses a bad name and a malformed placeholder, naming them', () => {
    expect(() => LlmCapabilityConfigSchema.parse({ ...SUMMARIZE, name: 'LLM Summarize' })).toThrow('name must match');
    expect(() => LlmCapabilityConfigSchema.parse({ ...SUMMARIZE, promptTemplate: 'Hi {{ process.env.SECRET }}' })).toThrow('{{ process.env.SECRET }}');
    expect(() => LlmCapabilityConfigSchema.parse({ ...SUMMARIZE, extra: true })).toThrow();
  });
});
