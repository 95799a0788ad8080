/**
 * The chart's values against the apps' configuration schemas, without helm: values.yaml validates
 * against values.schema.json, that file is what `pnpm chart:schema` generates from the schemas, every
 * variable the apps read is provided by the chart (a `config` map, a structured value, a Secret or a
 * fixed value — DATA_DIR alone is left out, on purpose), nothing else is, and the defaults in
 * values.yaml are the apps' own. A variable added, renamed or re-defaulted in an app shows up here.
 */
import fs from "node:fs";
import path from "node:path";
import Ajv from "ajv";
import YAML from "yaml";
import type { Field } from "@budmetrics/config";
import {
  allVariables,
  chartDerived,
  chartValuesSchema,
  chartValuesSchemaText,
  configMapOf,
  processSchemas,
  VALUES_SCHEMA_FILE,
} from "../../scripts/chart-schema";
import { CHART } from "./tools";

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const values: Doc = YAML.parse(fs.readFileSync(path.join(CHART, "values.yaml"), "utf8"));
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(JSON.parse(fs.readFileSync(VALUES_SCHEMA_FILE, "utf8")));
const errorsOf = (v: Doc) =>
  validate(v) ? [] : validate.errors!.map((e) => `${e.instancePath} ${e.message}`);
const withChange = (change: (v: Doc) => void) => {
  const v = structuredClone(values);
  change(v);
  return v;
};

describe("values.schema.json", () => {
  it("is what pnpm chart:schema generates from the config schemas (run pnpm chart:schema --write)", () => {
    expect(fs.readFileSync(VALUES_SCHEMA_FILE, "utf8")).toBe(chartValuesSchemaText());
  });

  it("accepts values.yaml", () => {
    expect(errorsOf(values)).toEqual([]);
  });

  it("refuses an unknown variable, a value out of its bounds, a bad URL and an unknown top-level key", () => {
    expect(errorsOf(withChange((v) => (v.collector.config.COLLECTOR_BATCH_ROWS = 5)))).toContain(
      "/collector/config must NOT have additional properties",
    );
    expect(
      errorsOf(withChange((v) => (v.collector.config.COLLECTOR_BATCH_MAX_ROWS = 0))).join("\n"),
    ).toContain("/collector/config/COLLECTOR_BATCH_MAX_ROWS must be >= 1");
    expect(errorsOf(withChange((v) => (v.config.LOG_LEVEL = "loud"))).join("\n")).toContain(
      "/config/LOG_LEVEL must be equal to one of the allowed values",
    );
    expect(errorsOf(withChange((v) => (v.clickhouse.url = "clickhouse:8123"))).join("\n")).toContain(
      "/clickhouse/url must match pattern",
    );
    expect(errorsOf(withChange((v) => (v.replicas = 3)))).toContain(" must NOT have additional properties");
  });

  it("refuses a zero redelivery interval or processing timeout (Redis redelivery needs both)", () => {
    expect(errorsOf(withChange((v) => (v.dapr.pubsub.processingTimeout = "0s"))).join("\n")).toContain(
      "/dapr/pubsub/processingTimeout must match pattern",
    );
    expect(errorsOf(withChange((v) => (v.dapr.pubsub.redeliverInterval = "0")))).not.toEqual([]);
  });

  it("takes numbers as numbers or as their text, as the environment would", () => {
    expect(errorsOf(withChange((v) => (v.query.config.QUERY_SLOW_MS = "250")))).toEqual([]);
    expect(errorsOf(withChange((v) => (v.query.config.QUERY_SLOW_MS = "250ms")))).not.toEqual([]);
  });

  it("lets an app override a shared variable, not the other app's", () => {
    expect(errorsOf(withChange((v) => (v.collector.config.SHUTDOWN_DEADLINE_MS = 30000)))).toEqual([]);
    expect(errorsOf(withChange((v) => (v.collector.config.QUERY_SLOW_MS = 1)))).not.toEqual([]);
  });

  it("accepts examples/bud-stack.values.yaml over the defaults", () => {
    const example: Doc = YAML.parse(
      fs.readFileSync(path.join(CHART, "examples/bud-stack.values.yaml"), "utf8"),
    );
    const merged = structuredClone(values);
    const mergeInto = (t: Doc, s: Doc) => {
      for (const [k, v] of Object.entries(s)) {
        if (v && typeof v === "object" && !Array.isArray(v)) mergeInto((t[k] ??= {}), v as Doc);
        else t[k] = v;
      }
    };
    mergeInto(merged, example);
    expect(errorsOf(merged)).toEqual([]);
  });

  it("has a property for every top-level key of values.yaml", () => {
    expect(Object.keys((chartValuesSchema() as { properties: object }).properties).sort()).toEqual(
      Object.keys(values).sort(),
    );
  });
});

/** A schema default as the environment carries it. */
function envText(f: Field): string | null {
  if (f.default === undefined || f.default === null) return null;
  return Array.isArray(f.default) ? f.default.join(",") : String(f.default);
}

/** Milliseconds of a Go duration of one unit ("45s", "500ms", "2m"). */
function durationMs(d: string): number {
  const m = /^([0-9]+)(ms|s|m|h)$/.exec(d);
  if (!m) throw new Error(`unsupported duration ${d}`);
  return Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
}

describe("Dapr delivery times against the collector's own", () => {
  const c = { ...values.config, ...values.collector.config };
  // A delivery may wait for the write in flight, then its own; each bounded by the flush timeout.
  const worstAck = Number(c.COLLECTOR_INSERT_MIN_INTERVAL_MS) + 2 * Number(c.COLLECTOR_FLUSH_TIMEOUT_MS);

  it("a message is redelivered only after the collector's worst acknowledgement time", () => {
    expect(durationMs(values.dapr.pubsub.processingTimeout)).toBeGreaterThan(worstAck);
  });

  it("one delivery may wait for the write in flight and its own before the policy times it out", () => {
    expect(durationMs(values.dapr.resiliency.deliveryTimeout)).toBeGreaterThan(worstAck);
  });
});

describe("every variable the apps read is provided by the chart, nothing else", () => {
  const maps: Record<"config" | "collector" | "query", Doc> = {
    config: values.config,
    collector: values.collector.config,
    query: values.query.config,
  };
  const derived = Object.values(chartDerived).flatMap((g) => Object.keys(g));

  it("the config maps and the derived variables together are exactly the variables the apps read", () => {
    const inMaps = Object.values(maps).flatMap((m) => Object.keys(m));
    expect(new Set(inMaps).size).toBe(inMaps.length); // none in two maps
    expect([...inMaps, ...derived].sort()).toEqual(allVariables().sort());
  });

  it("each variable sits in the map of the processes that read it", () => {
    for (const [map, m] of Object.entries(maps)) {
      for (const name of Object.keys(m)) expect(`${name} in ${configMapOf(name)}`).toBe(`${name} in ${map}`);
    }
  });

  it("the one variable left out is DATA_DIR (embedded engine only)", () => {
    expect(Object.keys(chartDerived.notSet)).toEqual(["DATA_DIR"]);
  });

  it("values.yaml defaults are the apps' defaults", () => {
    const fields = { ...processSchemas.migrate, ...processSchemas.query, ...processSchemas.collector };
    for (const m of Object.values(maps)) {
      for (const [name, value] of Object.entries(m)) {
        expect(`${name}=${String(value)}`).toBe(
          `${name}=${envText(fields[name as keyof typeof fields] as Field)}`,
        );
      }
    }
    const collector = processSchemas.collector;
    expect(values.clickhouse.user).toBe(collector.CLICKHOUSE_USER.default);
    expect(values.clickhouse.database).toBe(collector.CLICKHOUSE_DATABASE.default);
    expect(values.collector.port).toBe(collector.PORT.default);
    expect(values.query.port).toBe(processSchemas.query.PORT.default);
  });

  it("the templates set each derived variable", () => {
    const t = (f: string) => fs.readFileSync(path.join(CHART, "templates", f), "utf8");
    const apps = t("configmap.yaml");
    const secrets = t("_helpers.tpl");
    const job = t("migrate-job.yaml");
    for (const name of [...Object.keys(chartDerived.fixed), ...Object.keys(chartDerived.fromValues)]) {
      expect(apps).toMatch(new RegExp(`^  ${name}: `, "m"));
    }
    for (const name of Object.keys(chartDerived.secrets)) expect(secrets).toContain(`- name: ${name}\n`);
    for (const name of [
      "CLICKHOUSE_URL",
      "CLICKHOUSE_USER",
      "CLICKHOUSE_DATABASE",
      "CLICKHOUSE_CLUSTER",
      "CLICKHOUSE_PASSWORD",
    ]) {
      expect(job).toContain(`- name: ${name}\n`);
    }
    for (const name of Object.keys(chartDerived.notSet))
      expect(`${apps}${secrets}${job}`).not.toContain(name);
  });
});
