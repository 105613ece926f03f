import type { SynthesizedStack } from './synth';

/** What a logical resource resolves to locally: its Ref value and its attributes. */
export interface LocalValue {
  ref: string;
  attributes: Record<string, string>;
}

/**
 * Resolves CloudFormation intrinsics (Ref, Fn::GetAtt, Fn::ImportValue, Fn::Join, Fn::Select,
 * Fn::Split, Fn::Sub with pseudo parameters) against the local physical resources.
 */
export class TemplateResolver {
  private readonly values = new Map<string, LocalValue>();
  private readonly exports = new Map<string, { stack: string; value: unknown }>();

  constructor(
    stacks: readonly SynthesizedStack[],
    private readonly pseudo: { region: string; accountId: string },
  ) {
    for (const { stackName, template } of stacks) {
      for (const output of Object.values(template.Outputs ?? {})) {
        if (output.Export) this.exports.set(output.Export.Name, { stack: stackName, value: output.Value });
      }
    }
  }

  define(stackName: string, logicalId: string, value: LocalValue): void {
    this.values.set(`${stackName}/${logicalId}`, value);
  }

  resolve(stackName: string, value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.resolve(stackName, v));
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length !== 1) return Object.fromEntries(entries.map(([k, v]) => [k, this.resolve(stackName, v)]));
    const [fn, arg] = entries[0]!;
    switch (fn) {
      case 'Ref':
        return this.ref(stackName, String(arg));
      case 'Fn::GetAtt': {
        const [id, attribute] = arg as [string, string];
        const local = this.lookup(stackName, id);
        const resolved = local.attributes[attribute];
        if (resolved === undefined) throw new Error(`local cloud: no attribute ${attribute} on ${stackName}/${id}`);
        return resolved;
      }
      case 'Fn::ImportValue': {
        const name = String(this.resolve(stackName, arg));
        const exported = this.exports.get(name);
        if (!exported) throw new Error(`local cloud: no export named ${name}`);
        return this.resolve(exported.stack, exported.value);
      }
      case 'Fn::Join': {
        const [sep, parts] = arg as [string, unknown[]];
        return (this.resolve(stackName, parts) as unknown[]).join(sep);
      }
      case 'Fn::Select': {
        const [index, list] = arg as [number, unknown];
        return (this.resolve(stackName, list) as unknown[])[Number(index)];
      }
      case 'Fn::Split': {
        const [sep, source] = arg as [string, unknown];
        return String(this.resolve(stackName, source)).split(sep);
      }
      case 'Fn::Sub':
        return String(Array.isArray(arg) ? arg[0] : arg).replace(/\$\{([^}]+)\}/g, (_, name: string) => this.ref(stackName, name));
      default:
        return Object.fromEntries(entries.map(([k, v]) => [k, this.resolve(stackName, v)]));
    }
  }

  /** Resolves a value that must come out as a string. */
  string(stackName: string, value: unknown): string {
    const resolved = this.resolve(stackName, value);
    if (typeof resolved !== 'string' && typeof resolved !== 'number' && typeof resolved !== 'boolean') {
      throw new Error(`local cloud: expected a scalar, got ${JSON.stringify(resolved)}`);
    }
    return String(resolved);
  }

  private ref(stackName: string, name: string): string {
    if (name === 'AWS::Region') return this.pseudo.region;
    if (name === 'AWS::AccountId') return this.pseudo.accountId;
    if (name === 'AWS::Partition') return 'aws';
    if (name === 'AWS::URLSuffix') return 'amazonaws.com';
    if (name === 'AWS::StackName') return stackName;
    return this.lookup(stackName, name).ref;
  }

  private lookup(stackName: string, id: string): LocalValue {
    const local = this.values.get(`${stackName}/${id}`);
    if (!local) throw new Error(`local cloud: ${stackName}/${id} has no local counterpart`);
    return local;
  }
}
