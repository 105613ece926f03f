import { randomBytes } from 'node:crypto';
import * as z from 'zod';
import { describe, expect, it } from 'vitest';
import { LocalEnvelope } from '../../lambdas/adapters/local-envelope';
import { openJson, runLevelLookup, sealingLevel, sealJson, stepContextTask } from '../../lambdas/adapters/sealed-attributes';
import { ClassificationSettingsSchema } from '../../lambdas/contracts/classification';
import { EnvelopeOpenError } from '../../lambdas/domain/envelope';

const classifications = ClassificationSettingsSchema.parse({
  levels: ['internal', 'confidential', 'restricted'],
  default: 'internal',
  capabilities: { pii: 'confidential', vault: 'restricted' },
});
const envelope = LocalEnvelope.fromKey(randomBytes(32));
const sealing = { envelope, classifications };
const context = { tenant: 'acme', task: 'tsk_a', classification: 'restricted' };

describe('sealingLevel', () => {
  it('is the capability\'s level when sensitive, undefined when not, and never below a run\'s level', () => {
    expect(sealingLevel(sealing, 'vault')).toBe('restricted');
    expect(sealingLevel(sealing, 'pii')).toBe('confidential');
    expect(sealingLevel(sealing, 'echo')).toBeUndefined();
    expect(sealingLevel(sealing, 'echo', 'confidential')).toBe('confidential');
    expect(sealingLevel(sealing, 'vault', 'confidential')).toBe('restricted');
    expect(sealingLevel(undefined, 'vault')).toBeUndefined();
  });
});

describe('openJson', () => {
  it('opens what sealJson sealed with the same context, checked against the schema', async () => {
    const sealed = await sealJson(envelope, { a: [1, 'two', null] }, context);

    expect(await openJson(envelope, sealed, context, z.object({ a: z.array(z.unknown()) }))).toEqual({ a: [1, 'two', null] });
  });

  it('answers SEALED_DATA_UNREADABLE for another tenant\'s context, a value that is not binary, no envelope, or a payload the schema refuses', async () => {
    const sealed = await sealJson(envelope, { a: 1 }, context);
    const attempts = [
      openJson(envelope, sealed, { ...context, tenant: 'globex' }, z.unknown()),
      openJson(envelope, 'not binary', context, z.unknown()),
      openJson(undefined, sealed, context, z.unknown()),
      openJson(envelope, sealed, context, z.object({ b: z.string() })),
    ];

    for (const attempt of attempts) await expect(attempt).rejects.toBeInstanceOf(EnvelopeOpenError);
  });

  it('binds a step\'s data to its run and step', () => {
    expect(stepContextTask('tsk_run', 'classify')).toBe('tsk_run/classify');
  });
});

describe('runLevelLookup', () => {
  it('reads a run\'s capability once, and counts a run it cannot find as the most sensitive level without remembering that', async () => {
    const reads: string[] = [];
    const capabilities: Record<string, string | undefined> = { run1: 'workflow.claims', run2: undefined };
    const lookup = runLevelLookup(
      { envelope, classifications: { ...classifications, capabilities: { ...classifications.capabilities, 'workflow.claims': 'confidential' } } },
      async (_tenant, runId) => (reads.push(runId), capabilities[runId]),
    );

    expect(await lookup('acme', 'run1')).toBe('confidential');
    expect(await lookup('acme', 'run1')).toBe('confidential');
    expect(await lookup('acme', 'run2')).toBe('restricted');
    expect(await lookup('acme', 'run2')).toBe('restricted');
    expect(reads).toEqual(['run1', 'run2', 'run2']);
  });
});
