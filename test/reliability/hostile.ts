/**
 * Hostile inputs, generated deterministically: mutated CloudEvents for the collector and mutated
 * requests for every operation of the query app's OpenAPI document, plus an injection corpus.
 */
import { createRng, uuidFrom, type Catalogue } from "../support/generate";
import { generateInferences, inferenceCloudEvent } from "../support/generate";

/** Strings that have broken services somewhere: SQL, template, path, format, markup, control characters. */
export const INJECTION_CORPUS: readonly string[] = [
  "' OR '1'='1",
  "'; DROP TABLE inference_events; --",
  '"); DROP TABLE quarantine; --',
  "1; SELECT * FROM system.users",
  "x' UNION ALL SELECT name FROM system.tables --",
  "{{db}}",
  "{db:String}",
  "${process.exit()}",
  "%s%s%s%n",
  "../../../../etc/passwd",
  "<script>alert(1)</script>",
  "\\x00\\x01",
  "\u0000\u0001\u007f",
  "Robert'); DROP TABLE students;--",
  "`rm -rf /`",
  "$(touch /tmp/pwned)",
  "\\' OR sleep(10) --",
  "SETTINGS max_memory_usage = 1",
  "FORMAT Native",
  "__proto__",
  "constructor",
  "🙂".repeat(500),
  "a".repeat(70_000),
];

export interface HostileEvent {
  body: unknown;
  /** Whether the collector must store it (a valid event) or refuse it (quarantined with a reason). */
  valid: boolean;
  mutation: string;
}

const deep = (n: number): unknown => {
  let o: unknown = 1;
  for (let i = 0; i < n; i++) o = { a: o };
  return o;
};

/** Mutations of a valid inference CloudEvent; each returns the event and whether it stays valid. */
const MUTATIONS: Array<
  [string, (e: Record<string, unknown>, d: Record<string, unknown>, r: () => number) => boolean]
> = [
  ["valid", () => true],
  [
    "valid, __proto__ inside response_analysis",
    (_e, d) => ((d.response_analysis = JSON.parse('{"__proto__":{"x":1},"ok":true}')), true),
  ],
  [
    "valid, unicode everywhere",
    (_e, d) => ((d.model_name = "模型-🙂-ü"), (d.error_message = "naïve ☃ \u2028"), true),
  ],
  [
    "__proto__ key in data",
    (_e, d) => (
      Object.defineProperty(d, "__proto__", {
        value: { x: 1 },
        enumerable: true,
        configurable: true,
        writable: true,
      }),
      false
    ),
  ],
  ["project_id a number", (_e, d) => ((d.project_id = 123), false)],
  ["is_success a string", (_e, d) => ((d.is_success = "yes"), false)],
  ["input_tokens negative", (_e, d) => ((d.input_tokens = -1), false)],
  ["input_tokens fractional", (_e, d) => ((d.input_tokens = 1.5), false)],
  ["input_tokens over UInt32", (_e, d) => ((d.input_tokens = 2 ** 32), false)],
  ["cost too large", (_e, d) => ((d.cost = 1e12), false)],
  ["status_code 600", (_e, d) => ((d.status_code = 600), false)],
  ["response_time_ms a string", (_e, d) => ((d.response_time_ms = "fast"), false)],
  ["error_message over 1 MiB", (_e, d) => ((d.error_message = "e".repeat(1_100_000)), false)],
  ["model_name over 1 KiB", (_e, d) => ((d.model_name = "m".repeat(5_000)), false)],
  ["a lone surrogate", (_e, d) => ((d.project_name = "p\ud800"), false)],
  ["nesting 3,000 deep", (_e, d) => ((d.response_analysis = deep(3_000)), false)],
  [
    "year 1900",
    (_e, d) => ((d.request_arrival_time = d.request_forward_time = "1900-06-01T00:00:00Z"), false),
  ],
  [
    "year 2300",
    (_e, d) => ((d.request_arrival_time = d.request_forward_time = "2300-06-01T00:00:00Z"), false),
  ],
  ["month 13", (_e, d) => ((d.request_arrival_time = "2026-13-01T00:00:00Z"), false)],
  ["time without zone", (_e, d) => ((d.request_arrival_time = "2026-01-01T00:00:00"), false)],
  ["forward before arrival", (_e, d) => ((d.request_forward_time = "1971-01-01T00:00:00Z"), false)],
  ["IPv6 with a zone", (_e, d) => ((d.request_ip = "fe80::1%eth0"), false)],
  ["unknown field", (_e, d) => ((d.colour = "blue"), false)],
  ["missing inference_id", (_e, d) => (delete d.inference_id, false)],
  ["data null", (e) => ((e.data = null), false)],
  ["data an array", (e) => ((e.data = [1, 2]), false)],
  ["no envelope id", (e) => (delete e.id, false)],
  ["specversion 0.3", (e) => ((e.specversion = "0.3"), false)],
  ["unknown type", (e) => ((e.type = "evil.type"), false)],
  ["bad extension name", (e) => ((e["Bad-Name"] = 1), false)],
  [
    "id with injection text (an id longer than 1,024 characters is refused)",
    (e, _d, r) => {
      const id = INJECTION_CORPUS[Math.floor(r() * INJECTION_CORPUS.length)]!;
      e.id = id;
      return id.length <= 1_024;
    },
  ],
  [
    "model_name with injection text",
    (_e, d, r) => ((d.model_name = INJECTION_CORPUS[Math.floor(r() * 20)]!), true),
  ],
];

export function hostileEvents(seed: number, count: number, catalogue: Catalogue): HostileEvent[] {
  const rng = createRng(seed);
  const now = Date.now();
  const out: HostileEvent[] = [];
  const base = generateInferences({
    seed,
    count,
    startMs: now - 86_400_000,
    endMs: now,
    catalogue,
    idVersion: 7,
  });
  for (const d of base) {
    const [mutation, apply] = MUTATIONS[Math.floor(rng() * MUTATIONS.length)]!;
    const event = inferenceCloudEvent(d) as Record<string, unknown>;
    event.id = uuidFrom(rng);
    const data = { ...(event.data as Record<string, unknown>) };
    event.data = data;
    const valid = apply(event, data, rng);
    out.push({ body: event, valid, mutation });
  }
  return out;
}

/** Per JSON-Schema type, values a client may send by mistake or malice. */
function hostileValues(schema: Record<string, unknown> | undefined, rng: () => number): unknown[] {
  const pick = () => INJECTION_CORPUS[Math.floor(rng() * INJECTION_CORPUS.length)]!;
  return [
    null,
    pick(),
    -1,
    1e308,
    -1e308,
    0.5,
    true,
    [],
    [pick(), pick()],
    {},
    { $gt: "" },
    "2026-13-45T99:99:99Z",
    "1900-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "00000000-0000-0000-0000-000000000000",
    "not-a-uuid",
    Array.from({ length: 5_000 }, () => "x"),
    ...(schema && Array.isArray(schema.enum) ? [`${String(schema.enum[0])}x`] : []),
  ];
}

export interface HostileRequest {
  method: "GET" | "POST";
  path: string;
  body?: string;
}

type Schema = Record<string, unknown>;

function resolve(doc: Schema, s: unknown): Schema | undefined {
  if (!s || typeof s !== "object") return undefined;
  const ref = (s as { $ref?: string }).$ref;
  if (ref?.startsWith("#/")) {
    let cur: unknown = doc;
    for (const part of ref.slice(2).split("/")) cur = (cur as Schema)?.[part];
    return resolve(doc, cur);
  }
  return s as Schema;
}

/** `count` hostile requests spread over every operation of the OpenAPI document (admin writes left out). */
export function hostileRequests(openapi: Schema, seed: number, count: number): HostileRequest[] {
  const rng = createRng(seed);
  const ops: Array<{
    method: "GET" | "POST";
    path: string;
    props: Record<string, Schema>;
    params: Schema[];
  }> = [];
  for (const [p, item] of Object.entries(openapi.paths as Record<string, Schema>)) {
    for (const [m, op] of Object.entries(item)) {
      const method = m.toUpperCase();
      if (method !== "GET" && method !== "POST") continue;
      if (p.startsWith("/admin/") && method === "POST") continue;
      const o = op as Schema;
      const body = resolve(
        openapi,
        ((o.requestBody as Schema | undefined)?.content as Schema | undefined)?.["application/json"]
          ? (((o.requestBody as Schema).content as Schema)["application/json"] as Schema).schema
          : undefined,
      );
      const props: Record<string, Schema> = {};
      for (const [k, v] of Object.entries((body?.properties as Record<string, unknown> | undefined) ?? {}))
        props[k] = resolve(openapi, v) ?? {};
      ops.push({
        method,
        path: p,
        props,
        params: ((o.parameters as Schema[] | undefined) ?? []).map((x) => x),
      });
    }
  }
  const out: HostileRequest[] = [];
  for (let i = 0; i < count; i++) {
    const op = ops[i % ops.length]!;
    let path = op.path.replace(/\{[^}]+\}/g, () =>
      encodeURIComponent(String(hostileValues(undefined, rng)[Math.floor(rng() * 17)])),
    );
    const query: string[] = [];
    for (const prm of op.params) {
      if (prm.in !== "query" || rng() < 0.3) continue;
      const v = hostileValues(prm.schema as Schema, rng);
      query.push(
        `${encodeURIComponent(String(prm.name))}=${encodeURIComponent(String(v[Math.floor(rng() * v.length)]))}`,
      );
    }
    if (query.length > 0) path += `?${query.join("&")}`;
    if (op.method === "GET") {
      out.push({ method: "GET", path });
      continue;
    }
    const body: Record<string, unknown> = {};
    for (const [k, schema] of Object.entries(op.props)) {
      if (rng() < 0.4) continue;
      const v = hostileValues(schema, rng);
      body[k] = v[Math.floor(rng() * v.length)];
    }
    const shape = rng();
    out.push({
      method: "POST",
      path,
      body:
        shape < 0.05
          ? "{not json"
          : shape < 0.08
            ? JSON.stringify([body])
            : shape < 0.1
              ? JSON.stringify(deep(2_000))
              : JSON.stringify(body),
    });
  }
  return out;
}
