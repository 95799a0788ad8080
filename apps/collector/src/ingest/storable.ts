/**
 * What the engine would refuse, refused before it gets there. The engine refuses a whole insert for
 * one value it cannot take, so one such event would stall every event batched with it; the schemas
 * bound each field, and this pass bounds what a schema cannot say: text that is not valid Unicode
 * (a lone UTF-16 surrogate, which JSON can carry as "\ud800" but no UTF-8 column can store), numbers
 * that are not finite (JSON "1e400" parses to Infinity), and nesting deeper than the serialisers and
 * the quarantine can handle. Iterative, so a hostile depth cannot overflow the stack here either.
 */
export const MAX_NESTING = 32;

/** A lone surrogate: a high one not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function hasLoneSurrogate(s: string): boolean {
  return LONE_SURROGATE.test(s);
}

/** Replaces lone surrogates with U+FFFD (for text kept as evidence, e.g. a quarantined payload). */
export function toWellFormed(s: string): string {
  return LONE_SURROGATE.test(s)
    ? s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd")
    : s;
}

/** The first value that cannot be stored, as a field path and a rule; undefined when all can. */
export function findUnstorable(value: unknown, root: string): { field: string; rule: string } | undefined {
  const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v: value, path: root, depth: 0 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v === "string") {
      if (hasLoneSurrogate(v))
        return { field: path, rule: "must be valid Unicode (a lone surrogate cannot be stored)" };
    } else if (typeof v === "number") {
      if (!Number.isFinite(v)) return { field: path, rule: "must be a finite number" };
    } else if (v !== null && typeof v === "object") {
      if (depth >= MAX_NESTING)
        return { field: path, rule: `must not nest deeper than ${MAX_NESTING} levels` };
      if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--)
          stack.push({ v: v[i], path: `${path}[${i}]`, depth: depth + 1 });
      } else {
        const entries = Object.entries(v as Record<string, unknown>);
        for (let i = entries.length - 1; i >= 0; i--) {
          const [k, child] = entries[i]!;
          const childPath = path ? `${path}.${k}` : k;
          if (hasLoneSurrogate(k)) return { field: childPath, rule: "must be a valid Unicode name" };
          stack.push({ v: child, path: childPath, depth: depth + 1 });
        }
      }
    }
  }
  return undefined;
}
