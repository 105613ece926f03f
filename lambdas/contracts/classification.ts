import * as z from 'zod';

/**
 * Data classification: the levels a deployment knows, which of them are sensitive (their task
 * inputs, results and step data are envelope-encrypted under that level's KMS key, with the tenant
 * and the task in the encryption context), which keys the DR region must be able to decrypt with
 * (multi-region keys), and the level of each capability's tasks. One KMS key per level
 * (lib/constructs/data-keys.ts); the functions find a level's key in `DATA_KEY_ARN_<LEVEL>`.
 */

/** A level's name: lower-case, so it reads the same in config, aliases and environment variables. */
export const CLASSIFICATION_LEVEL = /^[a-z][a-z0-9]{0,19}$/;
const LevelSchema = z.string().regex(CLASSIFICATION_LEVEL, 'a level: lower-case letters and digits, starting with a letter, at most 20');
const CapabilitySchema = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,127}$/, 'a capability: lower-case letters, digits, _ . -');

/**
 * The `classifications` key of the config. `levels` from least to most sensitive; `default` the
 * level of a capability not listed in `capabilities`; `sensitive` the levels envelope-encrypted
 * (default: every level but the first); `multiRegion` the levels whose key is a multi-region key
 * (default: the sensitive ones, which the DR region must decrypt once their items are replicated).
 */
export const ClassificationSettingsSchema = z
  .object({
    levels: z.array(LevelSchema).min(1).max(8),
    default: LevelSchema,
    sensitive: z.array(LevelSchema).optional(),
    multiRegion: z.array(LevelSchema).optional(),
    capabilities: z.record(CapabilitySchema, LevelSchema).default({}),
  })
  .strict()
  .superRefine((settings, ctx) => {
    const known = new Set(settings.levels);
    if (known.size !== settings.levels.length) ctx.addIssue({ code: 'custom', path: ['levels'], message: 'levels must be unique' });
    const unknown = (level: string, path: (string | number)[]) => {
      if (!known.has(level)) ctx.addIssue({ code: 'custom', path, message: `"${level}" is not one of the levels (${settings.levels.join(', ')})` });
    };
    unknown(settings.default, ['default']);
    settings.sensitive?.forEach((level, i) => unknown(level, ['sensitive', i]));
    settings.multiRegion?.forEach((level, i) => unknown(level, ['multiRegion', i]));
    for (const [capability, level] of Object.entries(settings.capabilities)) unknown(level, ['capabilities', capability]);
  })
  .transform((settings) => {
    const sensitive = settings.sensitive ?? settings.levels.slice(1);
    return { ...settings, sensitive, multiRegion: settings.multiRegion ?? sensitive };
  });

export type ClassificationSettings = z.output<typeof ClassificationSettingsSchema>;

/** The default: three levels, the two upper ones sensitive and readable in the DR region. */
export const DEFAULT_CLASSIFICATIONS: z.input<typeof ClassificationSettingsSchema> = {
  levels: ['internal', 'confidential', 'restricted'],
  default: 'internal',
};

/** The level of a capability's tasks: its own when listed, else the default. */
export const classificationOf = (settings: ClassificationSettings, capability: string): string =>
  settings.capabilities[capability] ?? settings.default;

/** Whether data of `level` is envelope-encrypted. */
export const isSensitive = (settings: ClassificationSettings, level: string): boolean => settings.sensitive.includes(level);

/**
 * The encryption context of every sealed value, in KMS and as the AES-GCM additional data: a
 * ciphertext opens only for the same tenant, task and level. The key policy requires all three
 * (kms:EncryptionContextKeys), so no caller can ask for a data key without naming its tenant.
 */
export const ENCRYPTION_CONTEXT_KEYS = ['tenant', 'task', 'classification'] as const;

/** The environment variable naming the ARN of `level`'s data key. */
export const dataKeyEnvName = (level: string): string => `DATA_KEY_ARN_${level.toUpperCase()}`;
