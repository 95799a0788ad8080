/**
 * Environment configuration: one schema per app, every problem reported at once, units in names.
 * A field is `{ type, default?, doc, ... }`; `loadConfig(schema, env)` returns the typed values or
 * throws one ConfigError listing every bad or missing variable. Nothing is clamped silently.
 */

interface BaseField<T> {
  doc: string;
  /** Absent = required. `null` = optional with no value. */
  default?: T | null;
  /** Hide the value in `describeConfig` output (secrets). */
  secret?: boolean;
}

export interface IntField extends BaseField<number> {
  type: "int";
  min?: number;
  max?: number;
}
export interface NumberField extends BaseField<number> {
  type: "number";
  min?: number;
  max?: number;
}
export interface StringField extends BaseField<string> {
  type: "string";
  pattern?: RegExp;
}
export interface BoolField extends BaseField<boolean> {
  type: "bool";
}
export interface EnumField<V extends string = string> extends BaseField<V> {
  type: "enum";
  values: readonly V[];
}
export interface UrlField extends BaseField<string> {
  type: "url";
  protocols: readonly string[];
}
export interface ListField extends BaseField<string[]> {
  type: "list";
}

export type Field = IntField | NumberField | StringField | BoolField | EnumField | UrlField | ListField;
export type Schema = Record<string, Field>;

type ValueOf<F extends Field> = F extends IntField | NumberField
  ? number
  : F extends BoolField
    ? boolean
    : F extends EnumField<infer V>
      ? V
      : F extends ListField
        ? string[]
        : string;

type Optional<F extends Field> = F extends { default: null } ? null : never;

export type ConfigOf<S extends Schema> = { readonly [K in keyof S]: ValueOf<S[K]> | Optional<S[K]> };

export class ConfigError extends Error {
  readonly code = "CONFIG_INVALID";
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

/** Typed helper so `as const` is not needed at call sites. */
export function defineSchema<S extends Schema>(schema: S): S {
  return schema;
}

function parseField(name: string, field: Field, raw: string): { value?: unknown; problem?: string } {
  const text = raw.trim();
  switch (field.type) {
    case "int": {
      if (!/^-?\d+$/.test(text)) return { problem: `${name} must be an integer, got "${raw}"` };
      const n = Number(text);
      return checkRange(name, field, n);
    }
    case "number": {
      const n = Number(text);
      if (text === "" || !Number.isFinite(n)) return { problem: `${name} must be a number, got "${raw}"` };
      return checkRange(name, field, n);
    }
    case "bool": {
      const t = text.toLowerCase();
      if (["1", "true", "yes", "on"].includes(t)) return { value: true };
      if (["0", "false", "no", "off"].includes(t)) return { value: false };
      return { problem: `${name} must be true or false, got "${raw}"` };
    }
    case "enum":
      return field.values.includes(text)
        ? { value: text }
        : { problem: `${name} must be one of ${field.values.join(", ")}, got "${raw}"` };
    case "url": {
      try {
        const u = new URL(text);
        if (!field.protocols.includes(u.protocol.replace(/:$/, ""))) {
          return { problem: `${name} must use ${field.protocols.join(" or ")}, got "${u.protocol}"` };
        }
        return { value: text };
      } catch {
        return { problem: `${name} must be a URL, got "${field.secret ? "[redacted]" : raw}"` };
      }
    }
    case "list":
      return {
        value: text
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s.length > 0),
      };
    case "string":
      if (field.pattern && !field.pattern.test(text)) {
        return { problem: `${name} must match ${field.pattern.source}, got "${raw}"` };
      }
      return { value: text };
  }
}

function checkRange(name: string, field: IntField | NumberField, n: number) {
  if (field.min !== undefined && n < field.min)
    return { problem: `${name} must be ≥ ${field.min}, got ${n}` };
  if (field.max !== undefined && n > field.max)
    return { problem: `${name} must be ≤ ${field.max}, got ${n}` };
  return { value: n };
}

export function loadConfig<S extends Schema>(
  schema: S,
  env: Record<string, string | undefined>,
  checks: ReadonlyArray<(c: ConfigOf<S>) => string | undefined> = [],
): ConfigOf<S> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(schema)) {
    const raw = env[name];
    if (raw === undefined || raw === "") {
      if (field.default === undefined) problems.push(`${name} is required (${field.doc})`);
      else out[name] = field.default;
      continue;
    }
    const { value, problem } = parseField(name, field, raw);
    if (problem) problems.push(problem);
    else out[name] = value;
  }
  if (problems.length === 0) {
    for (const check of checks) {
      const problem = check(out as ConfigOf<S>);
      if (problem) problems.push(problem);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as ConfigOf<S>;
}

/** Rows for the README configuration table and `--help` output. */
export function describeConfig(
  schema: Schema,
): Array<{ name: string; type: string; default: string; doc: string }> {
  return Object.entries(schema).map(([name, f]) => ({
    name,
    type: f.type === "enum" ? f.values.join(" \\| ") : f.type,
    default:
      f.default === undefined
        ? "(required)"
        : f.default === null
          ? "(unset)"
          : f.secret
            ? "(secret)"
            : Array.isArray(f.default)
              ? f.default.join(",")
              : String(f.default),
    doc: f.doc,
  }));
}

/** Merges schemas, refusing a variable defined twice with different meaning. */
export function mergeSchemas<A extends Schema, B extends Schema>(a: A, b: B): A & B {
  for (const key of Object.keys(b)) {
    if (key in a && a[key] !== b[key]) throw new Error(`config variable ${key} defined twice`);
  }
  return { ...a, ...b };
}
