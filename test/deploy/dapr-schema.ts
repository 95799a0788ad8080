/**
 * Checks Dapr resources against the vendored CRD schemas (fixtures/dapr/crd-schemas.yaml), strictly:
 * a field the CRD does not declare is an error (the API server would silently prune it, and daprd in
 * self-hosted mode ignores it), as are a missing required field and a wrong type. `metadata` is
 * checked as a Kubernetes ObjectMeta subset. In template mode, the placeholder standing for a template
 * expression matches any value, and null stands for content a template fills in.
 */
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";

export interface CrdSchema {
  group: string;
  kind: string;
  version: string;
  openAPIV3Schema: OpenApi;
}
interface OpenApi {
  type?: string;
  format?: string;
  properties?: Record<string, OpenApi>;
  additionalProperties?: OpenApi | boolean;
  items?: OpenApi;
  required?: string[];
  "x-kubernetes-preserve-unknown-fields"?: boolean;
}

const FIXTURES = path.join(__dirname, "fixtures/dapr");

export const crdSchemas: CrdSchema[] = YAML.parse(
  fs.readFileSync(path.join(FIXTURES, "crd-schemas.yaml"), "utf8"),
);
export const redisPubsubMetadata: { names: string[] } = YAML.parse(
  fs.readFileSync(path.join(FIXTURES, "pubsub-redis-metadata.yaml"), "utf8"),
);
export const sidecarAnnotations: { annotations: string[] } = YAML.parse(
  fs.readFileSync(path.join(FIXTURES, "sidecar-annotations.yaml"), "utf8"),
);

export const PLACEHOLDER = "__TEMPLATE__";

const objectMeta: OpenApi = {
  type: "object",
  required: ["name"],
  properties: {
    name: { type: "string" },
    namespace: { type: "string" },
    labels: { type: "object", additionalProperties: { type: "string" } },
    annotations: { type: "object", additionalProperties: { type: "string" } },
  },
};

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (Number.isInteger(v)) return "integer";
  return typeof v;
}

function check(v: unknown, s: OpenApi, at: string, template: boolean, out: string[]): void {
  if (s["x-kubernetes-preserve-unknown-fields"] && !s.type) return;
  if (template && (v === PLACEHOLDER || v === null)) return;
  const t = typeOf(v);
  if (s.type) {
    const ok = s.type === t || (s.type === "number" && (t === "integer" || t === "number"));
    if (!ok) {
      out.push(`${at}: expected ${s.type}, got ${t}${t === "string" ? ` "${String(v)}"` : ""}`);
      return;
    }
  }
  if (s.format === "int32" && typeof v === "number" && (v > 2 ** 31 - 1 || v < -(2 ** 31))) {
    out.push(`${at}: out of int32 range`);
  }
  if (t === "array" && s.items)
    (v as unknown[]).forEach((x, i) => check(x, s.items!, `${at}[${i}]`, template, out));
  if (t === "object") {
    const o = v as Record<string, unknown>;
    for (const r of s.required ?? []) if (!(r in o)) out.push(`${at}: missing required field ${r}`);
    for (const [k, x] of Object.entries(o)) {
      const p = s.properties?.[k];
      if (p) check(x, p, `${at}.${k}`, template, out);
      else if (typeof s.additionalProperties === "object")
        check(x, s.additionalProperties, `${at}.${k}`, template, out);
      else if (s.additionalProperties === true || s["x-kubernetes-preserve-unknown-fields"]) continue;
      else if (template && k === PLACEHOLDER) continue;
      else out.push(`${at}: unknown field ${k}`);
    }
  }
}

/** Problems of one resource (empty when it is valid), or null when it is not a Dapr CRD kind. */
export function validateDaprResource(doc: Record<string, unknown>, template = false): string[] | null {
  const [group, version] = String(doc.apiVersion ?? "").split("/");
  const crd = crdSchemas.find((c) => c.group === group && c.version === version && c.kind === doc.kind);
  if (!crd) {
    return group === "dapr.io"
      ? [`${String(doc.apiVersion)} ${String(doc.kind)}: no vendored CRD schema`]
      : null;
  }
  const out: string[] = [];
  const schema: OpenApi = {
    ...crd.openAPIV3Schema,
    properties: { ...crd.openAPIV3Schema.properties, metadata: objectMeta },
  };
  check(doc, schema, String(doc.kind), template, out);
  return out;
}

/**
 * The static parts of a Helm template as YAML documents: lines that are nothing but template actions
 * ({{- if }}, {{- end }}, {{- include … | nindent }}) are dropped, every other action becomes the
 * placeholder. Valid for templates whose actions stand alone on their lines or fill a scalar.
 */
export function templateStaticDocs(text: string): Record<string, unknown>[] {
  const lines = text
    .replace(/\{\{-?\s*\/\*[\s\S]*?\*\/\s*-?\}\}/g, "")
    .split("\n")
    .filter((l) => !/^\s*(\{\{[^}]*\}\}\s*)+$/.test(l))
    .map((l) => l.replace(/"?\{\{[^}]*\}\}"?/g, PLACEHOLDER));
  return YAML.parseAllDocuments(lines.join("\n"))
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`static parts do not parse: ${d.errors[0]!.message}`);
      return d.toJS() as Record<string, unknown> | null;
    })
    .filter((d): d is Record<string, unknown> => d !== null);
}
