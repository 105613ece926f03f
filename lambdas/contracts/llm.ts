import * as z from 'zod';

/**
 * An LLM capability as configured: one Bedrock model, one prompt template, the prices that turn
 * its token counts into the cost recorded per task. Zod only, so the CDK app may read it too.
 *
 * Template placeholders: `{{input.a.b}}` inserts the value at that path of the task's input
 * (strings as they are, other values as JSON), `{{json input.a.b}}` inserts it as JSON;
 * `{{input}}` and `{{json input}}` the whole input. A number segment indexes an array
 * (`{{input.items.0}}`). Anything else between `{{` and `}}` is refused when the config is read.
 */
export const LLM_PLACEHOLDER = /\{\{\s*(json\s+)?input((?:\.[A-Za-z0-9_$-]+)*)\s*\}\}/g;

/** Every `{{…}}` in `template` that is not a placeholder of the grammar above. */
export const malformedPlaceholders = (template: string): string[] =>
  (template.match(/\{\{.*?\}\}/gs) ?? []).filter((found) => !new RegExp(`^${LLM_PLACEHOLDER.source}$`).test(found));

export const LLM_CAPABILITY_NAME = /^[a-z][a-z0-9_.-]{0,63}$/;

export const LlmCapabilityConfigSchema = z
  .object({
    /** The capability tasks name, e.g. `llm.summarize`. */
    name: z.string().regex(LLM_CAPABILITY_NAME, 'name must match ^[a-z][a-z0-9_.-]{0,63}$'),
    /** A Bedrock model id or inference profile id (or ARN), e.g. `anthropic.claude-3-haiku-20240307-v1:0`. */
    modelId: z.string().min(1).max(2048),
    promptTemplate: z
      .string()
      .min(1)
      .superRefine((template, ctx) => {
        const bad = malformedPlaceholders(template);
        if (bad.length > 0) ctx.addIssue({ code: 'custom', message: `promptTemplate has placeholders outside {{input.path}} / {{json input.path}}: ${bad.join(', ')}` });
      }),
    /** The system prompt, sent as is (no placeholders). */
    system: z.string().min(1).optional(),
    maxTokens: z.number().int().positive().default(1024),
    temperature: z.number().min(0).max(1).optional(),
    prices: z
      .object({
        inputPer1kTokensUsd: z.number().nonnegative(),
        outputPer1kTokensUsd: z.number().nonnegative(),
      })
      .strict(),
  })
  .strict();

/** As written in config (maxTokens optional). */
export type LlmCapabilityConfigInput = z.input<typeof LlmCapabilityConfigSchema>;
/** As parsed (maxTokens filled in). */
export type LlmCapabilityConfig = z.output<typeof LlmCapabilityConfigSchema>;
