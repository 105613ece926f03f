import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  AuthorizerEnvSchema,
  BUILT_IN_AGENT_NAMES,
  DeadLetterEnvSchema,
  WorkflowEnvSchema,
  PreTokenEnvSchema,
  HealthEnvSchema,
  ENV,
  GatewayEnvSchema,
  ReconcilerEnvSchema,
  WorkerEnvSchema,
} from '../../lambdas/contracts';
import { BUILT_IN_AGENTS } from '../../lambdas/agents/registry';
import { parseConfig } from '../../lib/config';
import { ENTRY_METADATA, PROJECT_ROOT } from '../../lib/constructs/switchboard-function';
import { buildSwitchboard } from '../../lib/switchboard-app';
import { readCdkContext } from '../../bin/local-cloud/synth';

const filesUnder = (dir: string): string[] =>
  readdirSync(join(PROJECT_ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
/** Every module specifier a file imports (static, dynamic, re-exports). */
const importsOf = (file: string): string[] =>
  [...readFileSync(join(PROJECT_ROOT, file), 'utf8').matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)].map((m) => m[1]!);

describe('the contract between the CDK app and the functions', () => {
  it('lib/ imports nothing from lambdas/ but the contract module', () => {
    const offending = filesUnder('lib').flatMap((file) =>
      importsOf(file)
        .filter((spec) => spec.startsWith('.'))
        .map((spec) => relative(PROJECT_ROOT, join(PROJECT_ROOT, file, '..', spec)))
        .filter((target) => target.startsWith('lambdas') && !target.startsWith(join('lambdas', 'contracts')))
        .map((target) => `${file} → ${target}`),
    );
    expect(offending).toEqual([]);
  });

  it('the contract module depends on nothing but zod, node:crypto and itself (no AWS SDK, Powertools, domain or adapters)', () => {
    const foreign = filesUnder(join('lambdas', 'contracts')).flatMap((file) =>
      importsOf(file)
        .filter((spec) => !(spec === 'zod' || spec === 'node:crypto' || spec.startsWith('./')))
        .map((spec) => `${file} → ${spec}`),
    );
    expect(foreign).toEqual([]);
  });

  it('bin/ and bench/ import nothing from test/ (what they share with the tests lives in bin/harness)', () => {
    const offending = ['bin', 'bench'].flatMap((dir) =>
      filesUnder(dir).flatMap((file) =>
        importsOf(file)
          .filter((spec) => spec.startsWith('.'))
          .map((spec) => relative(PROJECT_ROOT, join(PROJECT_ROOT, file, '..', spec)))
          .filter((target) => target.startsWith('test'))
          .map((target) => `${file} → ${target}`),
      ),
    );
    expect(offending).toEqual([]);
  });

  it('names exactly the agents the registry ships', () => {
    expect([...BUILT_IN_AGENT_NAMES].sort()).toEqual([...BUILT_IN_AGENTS.keys()].sort());
  });

  describe('each function gets every variable its schema requires, and none it does not read', () => {
    const SCHEMAS: Record<string, z.ZodObject> = {
      'lambdas/mcp-gateway/handler.ts': GatewayEnvSchema,
      'lambdas/worker/handler.ts': WorkerEnvSchema,
      'lambdas/authorizer/handler.ts': AuthorizerEnvSchema,
      'lambdas/reconciler/handler.ts': ReconcilerEnvSchema,
      'lambdas/dead-letter/handler.ts': DeadLetterEnvSchema,
      'lambdas/workflow/handler.ts': WorkflowEnvSchema,
      'lambdas/identity/pre-token.ts': PreTokenEnvSchema,
      'lambdas/health/handler.ts': HealthEnvSchema,
    };
    /** Variables every function gets from SwitchboardFunction's defaults, read by Node and Powertools. */
    const PLATFORM = new Set(['NODE_OPTIONS', ENV.logLevel]);

    const synthesize = (overrides: Record<string, unknown> = {}) => {
      const context = readCdkContext();
      const config = parseConfig({ ...(context['switchboard'] as object), ...overrides });
      const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
      const stacks = buildSwitchboard(app, config);
      app.synth();
      const functions = new Map<string, Record<string, unknown>>();
      for (const stack of Object.values(stacks)) {
        for (const fn of Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function'))) {
          functions.set(fn['Metadata'][ENTRY_METADATA], fn['Properties'].Environment?.Variables ?? {});
        }
      }
      return { config, functions };
    };
    const { functions } = synthesize();

    it('covers every function of the app', () => {
      expect([...functions.keys()].sort()).toEqual(Object.keys(SCHEMAS).sort());
    });

    for (const [entry, schema] of Object.entries(SCHEMAS)) {
      it(entry, () => {
        const variables = functions.get(entry)!;
        const shape = schema.shape as Record<string, z.ZodType>;
        const required = Object.keys(shape).filter((name) => !shape[name]!.safeParse(undefined).success);
        expect(required.filter((name) => !(name in variables))).toEqual([]);
        // DATA_KEY_ARN_<LEVEL>: one per configured level, read (and checked) by envelopeSettings beside CLASSIFICATIONS.
        const dataKey = (name: string) => ENV.classifications in shape && /^DATA_KEY_ARN_[A-Z][A-Z0-9]*$/.test(name);
        expect(Object.keys(variables).filter((name) => !(name in shape) && !PLATFORM.has(name) && !dataKey(name))).toEqual([]);
      });
    }

    it('sets MCP_ALLOWED_ORIGINS on the gateway when api.allowedOrigins is configured, and only then', () => {
      const context = readCdkContext()['switchboard'] as { api: object };
      const configured = synthesize({ api: { ...context.api, allowedOrigins: ['https://console.example.com', 'https://app.example.com'] } });
      expect(configured.functions.get('lambdas/mcp-gateway/handler.ts')![ENV.allowedOrigins]).toBe('https://console.example.com,https://app.example.com');
      expect(functions.get('lambdas/mcp-gateway/handler.ts')![ENV.allowedOrigins]).toBeUndefined();
    });
  });
});
