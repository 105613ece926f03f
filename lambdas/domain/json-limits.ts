/**
 * Whether a JSON value nests deeper than `maxDepth` (a scalar is depth 0, `[]` and `{}` depth 1).
 * Iterative, so it answers for any depth without growing the stack, and stops at the first
 * branch over the limit.
 */
export const nestsDeeperThan = (value: unknown, maxDepth: number): boolean => {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > maxDepth) return true;
    const children = Array.isArray(current) ? current : Object.values(current as Record<string, unknown>);
    for (const child of children) stack.push([child, depth + 1]);
  }
  return false;
};
