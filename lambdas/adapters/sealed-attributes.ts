import * as z from 'zod';
import { classificationOf, isSensitive, type ClassificationSettings } from '../contracts/classification';
import { EnvelopeOpenError, type Envelope, type EnvelopeContext } from '../domain/envelope';

/**
 * What the DynamoDB adapters need to seal sensitive task data at rest (docs/security.md,
 * "Encryption"): the envelope (KMS, or the local key file locally) and the classification
 * settings that say which capability's data is sensitive. Absent: nothing is sealed.
 */
export interface TaskSealing {
  envelope: Envelope;
  classifications: ClassificationSettings;
}

/** The item attributes of sealed data: the level it was sealed at, and the blob (a binary attribute). */
export const SEALED_ATTRIBUTES = { classification: 'classification', sealed: 'sealed' } as const;

/** The more sensitive of two levels (levels are listed least to most sensitive). */
export const moreSensitive = (settings: ClassificationSettings, a: string, b: string): string =>
  settings.levels.indexOf(a) >= settings.levels.indexOf(b) ? a : b;

/** The most sensitive level: what data of an unknown level is sealed at (fail safe). */
export const mostSensitive = (settings: ClassificationSettings): string => settings.levels.at(-1)!;

/** The level to seal `capability`'s data at, at least `floor` (a run's level, for its steps); undefined: not sensitive. */
export const sealingLevel = (sealing: TaskSealing | undefined, capability: string, floor?: string): string | undefined => {
  if (!sealing) return undefined;
  const own = classificationOf(sealing.classifications, capability);
  const level = floor ? moreSensitive(sealing.classifications, own, floor) : own;
  return isSensitive(sealing.classifications, level) ? level : undefined;
};

/** Seals a JSON value: its UTF-8 JSON text, under the context's level, bound to the whole context. */
export const sealJson = async (envelope: Envelope, value: unknown, context: EnvelopeContext): Promise<Uint8Array> =>
  envelope.seal(new TextEncoder().encode(JSON.stringify(value)), context);

/**
 * Opens a sealed JSON value and checks it against `schema`. A blob that is not binary, does not
 * open with this context, or holds something else than the schema says is an EnvelopeOpenError
 * (SEALED_DATA_UNREADABLE): the caller learns no more than that.
 */
export const openJson = async <S extends z.ZodType>(
  envelope: Envelope | undefined,
  sealed: unknown,
  context: EnvelopeContext,
  schema: S,
): Promise<z.output<S>> => {
  if (!envelope || !(sealed instanceof Uint8Array)) throw new EnvelopeOpenError();
  const plaintext = await envelope.open(sealed, context);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext));
  } catch {
    throw new EnvelopeOpenError();
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new EnvelopeOpenError();
  return parsed.data;
};

/** A small least-recently-used map (per container): what a run's level lookup keeps. */
export class LevelCache {
  private readonly entries = new Map<string, string>();
  constructor(private readonly max = 1000) {}

  get(key: string): string | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: string): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }
}

/** The sealed part of a sensitive task item. */
export const SealedTaskDataSchema = z
  .object({
    input: z.unknown(),
    requestHash: z.string(),
    result: z.unknown().optional(),
    error: z.object({ code: z.string(), message: z.string() }).strict().optional(),
  })
  .strict();
export type SealedTaskData = z.infer<typeof SealedTaskDataSchema>;

/** The sealed part of a sensitive step item. */
export const SealedStepDataSchema = z
  .object({
    output: z.unknown().optional(),
    error: z.object({ code: z.string(), message: z.string() }).strict().optional(),
  })
  .strict();
export type SealedStepData = z.infer<typeof SealedStepDataSchema>;

/** The context `task` of a step's sealed data: the run and the step, so one step's blob never opens as another's. */
export const stepContextTask = (runId: string, stepId: string): string => `${runId}/${stepId}`;

/**
 * The level of a workflow run, by its id: the run's task item names its capability
 * (`workflow.<name>`), whose level the config gives. A run's steps (and its pulled steps' tasks) are
 * sealed at least at that level. One consistent GetItem of the `capability` attribute per run per
 * container (a run's capability never changes); a run that cannot be found counts as the most
 * sensitive level.
 */
export const runLevelLookup = (
  sealing: TaskSealing,
  readCapability: (tenantId: string, runId: string) => Promise<string | undefined>,
  max = 1000,
) => {
  const cache = new LevelCache(max);
  return async (tenantId: string, runId: string): Promise<string> => {
    const key = `${tenantId}/${runId}`;
    const cached = cache.get(key);
    if (cached !== undefined) return cached;
    const capability = await readCapability(tenantId, runId);
    if (capability === undefined) return mostSensitive(sealing.classifications);
    const level = classificationOf(sealing.classifications, capability);
    cache.set(key, level);
    return level;
  };
};
