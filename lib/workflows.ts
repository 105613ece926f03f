import { readdirSync, readFileSync } from 'node:fs';
import { basename, isAbsolute, join, relative } from 'node:path';
import { parseDocument } from 'yaml';
import type * as z from 'zod';
import {
  BUILT_IN_AGENT_NAMES,
  WorkflowDefinitionSchema,
  isAgentStep,
  isApprovalStep,
  isChoiceStep,
  isParallelStep,
  type Step,
  type WorkflowDefinition,
} from '../lambdas/contracts';
import { PROJECT_ROOT } from './constructs/switchboard-function';

/**
 * Loads the workflow definitions (`lib/workflows/*.yaml`) and refuses, with one line naming the file, the step and
 * the key, what the schema refuses and what it cannot see: duplicate step ids, references to a step that has not
 * certainly run before, a name other than the file's, a capability that is not enabled.
 */

export class WorkflowDefinitionError extends Error {
  override name = 'WorkflowDefinitionError';
}

export interface LoadWorkflowsOptions {
  /** The agent capabilities steps may use (default: every built-in agent). */
  capabilities?: readonly string[];
}

/** What a step's id names, for the reference checks. */
interface StepInfo {
  kind: 'agent' | 'approval' | 'parallel' | 'choice' | 'fallback';
  where: string;
  /** For a fallback: the step it stands in for (its result is that step's). */
  standsInFor?: string;
}

const STEP_KINDS = ['capability', 'approval', 'parallel', 'choice'] as const;
const INPUT_REF = /^\$\.input((\.[A-Za-z0-9_]+)|(\[\d+\]))*$/;
const STEP_REF = /^\$\.steps\.([a-z][a-zA-Z0-9_]*)\.output((\.[A-Za-z0-9_]+)|(\[\d+\]))*$/;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export const loadWorkflows = (dir = join(PROJECT_ROOT, 'lib', 'workflows'), options: LoadWorkflowsOptions = {}): WorkflowDefinition[] => {
  const capabilities = options.capabilities ?? BUILT_IN_AGENT_NAMES;
  return readdirSync(dir)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => loadWorkflowFile(join(dir, file), capabilities));
};

export const loadWorkflowFile = (file: string, capabilities: readonly string[] = BUILT_IN_AGENT_NAMES): WorkflowDefinition => {
  const shown = displayName(file);
  const fail = (where: string, message: string): never => {
    throw new WorkflowDefinitionError(`${shown}: ${where ? `${where}: ` : ''}${message}`);
  };
  const document = parseDocument(readFileSync(file, 'utf8'));
  const yamlError = document.errors[0];
  if (yamlError) fail('', `not valid YAML: ${yamlError.message.split('\n')[0]}`);
  const raw: unknown = document.toJS();

  const parsed = WorkflowDefinitionSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const { path, message } = first ? explainIssue(first, [], raw) : { path: [], message: 'invalid' };
    fail(describePath(raw, path), message);
  }
  const definition = parsed.data as WorkflowDefinition;

  const expectedName = basename(file, '.yaml');
  if (definition.name !== expectedName) fail('name', `"${definition.name}" must equal the file name (${expectedName})`);
  checkDefinition(definition, capabilities, fail);
  return definition;
};

const displayName = (file: string): string => {
  const inProject = relative(PROJECT_ROOT, file);
  return inProject.startsWith('..') || isAbsolute(inProject) ? file : inProject;
};

type Segment = string | number;

/**
 * The one issue worth showing: zod reports a step that matches no member of the step union as an `invalid_union`
 * holding every member's issues; the step's own keys say which member was meant.
 */
const explainIssue = (issue: z.core.$ZodIssue, base: Segment[], raw: unknown): { path: Segment[]; message: string } => {
  const path = [...base, ...(issue.path as Segment[])];
  if (issue.code === 'invalid_union') {
    const value = valueAt(raw, path);
    let branch: z.core.$ZodIssue[] | undefined;
    if (isStepPosition(path) && issue.errors.length === STEP_KINDS.length) {
      if (!isObject(value)) return { path, message: 'a step must be an object' };
      const kinds = STEP_KINDS.filter((key) => key in value);
      if (kinds.length !== 1) {
        const found = kinds.length ? ` (found ${kinds.join(', ')})` : '';
        return { path, message: `a step has exactly one of ${STEP_KINDS.join(', ')}${found}` };
      }
      branch = issue.errors[STEP_KINDS.indexOf(kinds[0]!)];
    } else {
      // Another union (onFailure, a case's equals): the member that got furthest into the value.
      branch = [...issue.errors].sort((a, b) => (b[0]?.path.length ?? 0) - (a[0]?.path.length ?? 0))[0];
    }
    const inner = branch?.[0];
    if (inner) return explainIssue(inner, path, raw);
    return { path, message: issue.message };
  }
  if (issue.code === 'unrecognized_keys') {
    if (issue.keys.length === 1) return { path: [...path, issue.keys[0]!], message: 'unknown key' };
    return { path, message: `unknown keys: ${issue.keys.join(', ')}` };
  }
  return { path, message: issue.message };
};

/** A step sits in `steps[i]`, `otherwise[i]`, a case's `steps[i]` or a parallel branch `parallel[b][i]`. */
const isStepPosition = (path: Segment[]): boolean => {
  const [prev, last] = path.slice(-2);
  return typeof last === 'number' && (prev === 'steps' || prev === 'otherwise' || typeof prev === 'number');
};

const valueAt = (raw: unknown, path: Segment[]): unknown =>
  path.reduce<unknown>((node, segment) => (isObject(node) || Array.isArray(node) ? (node as Record<Segment, unknown>)[segment] : undefined), raw);

/** `steps[1] (enrich).parallel[0][0] (lookup).timeoutSeconds`: indexes, with each step's id when it has one. */
const describePath = (raw: unknown, path: Segment[]): string => {
  let text = '';
  let node: unknown = raw;
  path.forEach((segment, i) => {
    text += typeof segment === 'number' ? `[${segment}]` : `${text ? '.' : ''}${segment}`;
    node = isObject(node) || Array.isArray(node) ? (node as Record<Segment, unknown>)[segment] : undefined;
    const atStep = isStepPosition(path.slice(0, i + 1)) || segment === 'fallback';
    if (atStep && isObject(node) && typeof node['id'] === 'string') text += ` (${node['id']})`;
  });
  return text;
};

/** The checks the schema cannot make, in the order a reader would: ids, capabilities, then references. */
const checkDefinition = (definition: WorkflowDefinition, capabilities: readonly string[], fail: (where: string, message: string) => never): void => {
  const steps = new Map<string, StepInfo>();
  const enabled = capabilities.length ? capabilities.join(', ') : 'none';

  const declare = (id: string, info: StepInfo) => {
    const seen = steps.get(id);
    if (seen) fail(`${info.where}.id`, `step id "${id}" is already used by ${seen.where}`);
    steps.set(id, info);
  };
  const checkCapability = (capability: string, where: string) => {
    // `<server>.*` stands for every tool of a downstream MCP server, known only once it is discovered.
    const enabledCapability = capabilities.includes(capability) || capabilities.some((c) => c.endsWith('.*') && capability.startsWith(c.slice(0, -1)));
    if (!enabledCapability) fail(`${where}.capability`, `"${capability}" is not an enabled capability (enabled: ${enabled})`);
  };

  const index = (sequence: Step[], at: string): void =>
    sequence.forEach((step, i) => {
      const where = `${at}[${i}] (${step.id})`;
      if (isAgentStep(step)) {
        declare(step.id, { kind: 'agent', where });
        checkCapability(step.capability, where);
        if (typeof step.onFailure === 'object') {
          const fallback = step.onFailure.fallback;
          const fallbackWhere = `${where}.onFailure.fallback (${fallback.id})`;
          declare(fallback.id, { kind: 'fallback', where: fallbackWhere, standsInFor: step.id });
          checkCapability(fallback.capability, fallbackWhere);
        }
      } else if (isApprovalStep(step)) {
        declare(step.id, { kind: 'approval', where });
      } else if (isParallelStep(step)) {
        declare(step.id, { kind: 'parallel', where });
        step.parallel.forEach((branch, b) => index(branch, `${where}.parallel[${b}]`));
      } else if (isChoiceStep(step)) {
        declare(step.id, { kind: 'choice', where });
        step.choice.cases.forEach((c, k) => index(c.steps, `${where}.choice.cases[${k}].steps`));
        index(step.choice.otherwise, `${where}.choice.otherwise`);
      }
    });
  index(definition.steps, 'steps');

  const checkReference = (value: string, where: string, visible: ReadonlySet<string>): void => {
    if (INPUT_REF.test(value)) return;
    const match = STEP_REF.exec(value);
    if (!match) fail(where, `"${value}" is not a reference: use $.input… or $.steps.<id>.output…`);
    const id = match![1]!;
    const target = steps.get(id);
    if (!target) fail(where, `"${value}" refers to a step "${id}" that does not exist`);
    if (target!.kind === 'fallback') fail(where, `"${value}" refers to fallback "${id}", whose result is its step's: use $.steps.${target!.standsInFor}.output`);
    if (target!.kind === 'parallel' || target!.kind === 'choice') fail(where, `"${value}" refers to ${target!.kind} step "${id}", which has no output`);
    if (!visible.has(id)) {
      fail(where, `"${value}" refers to step "${id}" (${target!.where}), which has not certainly run before: refer to earlier steps of the sequence or of the same branch`);
    }
  };
  const checkMapping = (value: unknown, where: string, visible: ReadonlySet<string>, inArray = false): void => {
    if (typeof value === 'string' && value.startsWith('$.')) {
      if (inArray) fail(where, `"${value}": references cannot sit inside a list`);
      checkReference(value, where, visible);
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => checkMapping(item, `${where}[${i}]`, visible, true));
    } else if (isObject(value)) {
      for (const [key, item] of Object.entries(value)) {
        if (key.endsWith('.$')) fail(`${where}.${key}`, 'a key cannot end with .$ (write references as "$.…" values)');
        checkMapping(item, `${where}.${key}`, visible, inArray);
      }
    }
  };

  /** Walks a sequence with the ids certainly run so far; returns them as they stand after it. */
  const walk = (sequence: Step[], at: string, before: ReadonlySet<string>): Set<string> => {
    const visible = new Set(before);
    sequence.forEach((step, i) => {
      const where = `${at}[${i}] (${step.id})`;
      if (isAgentStep(step)) {
        checkMapping(step.input, `${where}.input`, visible);
        if (typeof step.onFailure === 'object') {
          const fallback = step.onFailure.fallback;
          checkMapping(fallback.input, `${where}.onFailure.fallback (${fallback.id}).input`, visible);
        }
        visible.add(step.id);
      } else if (isApprovalStep(step)) {
        visible.add(step.id);
      } else if (isParallelStep(step)) {
        const after = step.parallel.map((branch, b) => walk(branch, `${where}.parallel[${b}]`, visible));
        after.forEach((ids) => ids.forEach((id) => visible.add(id)));
      } else if (isChoiceStep(step)) {
        checkReference(step.choice.variable, `${where}.choice.variable`, visible);
        // Steps of a choice branch may not have run: visible inside their branch only.
        step.choice.cases.forEach((c, k) => walk(c.steps, `${where}.choice.cases[${k}].steps`, visible));
        walk(step.choice.otherwise, `${where}.choice.otherwise`, visible);
      }
    });
    return visible;
  };
  walk(definition.steps, 'steps', new Set());
};
