/**
 * A CloudFormation value with its intrinsics flattened to a readable string (`${Ref}`,
 * `${Res.Attr}`, `${import:…}`, joins joined), so assertions can read ARNs and JSON built with tokens.
 */
export const flat = (value: unknown): string => {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if ('Ref' in v) return `\${${String(v['Ref'])}}`;
  if ('Fn::GetAtt' in v) return `\${${(v['Fn::GetAtt'] as string[]).join('.')}}`;
  if ('Fn::ImportValue' in v) return `\${import:${flat(v['Fn::ImportValue'])}}`;
  if ('Fn::Join' in v) {
    const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(flat).join(separator);
  }
  return JSON.stringify(v);
};
