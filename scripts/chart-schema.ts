/**
 * The Helm chart's side of the configuration, derived from the apps' config schemas:
 * - `processSchemas`: what each process in the chart reads (collector, query, migration job);
 * - `chartDerived`: the variables the chart sets from structured values, secrets or fixed values
 *   (every other variable lives in one of the `config` maps of values.yaml);
 * - `chartValuesSchema()`: helm/budmetrics/values.schema.json, whose `config` parts are generated from
 *   the schemas (types, bounds, patterns, enums) so a new or changed variable shows up as drift.
 * `pnpm chart:schema` prints the JSON Schema; `pnpm chart:schema --write` rewrites the file (a test
 * checks the file is current).
 */
import fs from "node:fs";
import path from "node:path";
import { mergeSchemas, type Field, type Schema } from "@budmetrics/config";
import { clickhouseConfigSchema, migrateConfigSchema } from "@budmetrics/clickhouse";
import { collectorConfigSchema } from "@budmetrics/collector";
import { serverConfigSchema } from "@budmetrics/http";
import { queryConfigSchema } from "@budmetrics/query";

/** The schemas the chart's three processes load (the same merges as each entry point). */
export const processSchemas = {
  collector: mergeSchemas(
    mergeSchemas(serverConfigSchema(9086), clickhouseConfigSchema),
    collectorConfigSchema,
  ),
  query: mergeSchemas(mergeSchemas(serverConfigSchema(9085), clickhouseConfigSchema), queryConfigSchema),
  migrate: migrateConfigSchema,
} as const;

/** Variables the chart does not take from a `config` map, and where they come from instead. */
export const chartDerived = {
  fixed: {
    HOST: '"0.0.0.0" (listen on the pod network)',
    CLICKHOUSE_MIGRATE_ON_START: '"false" (the hook job migrates)',
  },
  fromValues: {
    PORT: "collector.port / query.port",
    CLICKHOUSE_URL: "clickhouse.url",
    CLICKHOUSE_USER: "clickhouse.user",
    CLICKHOUSE_DATABASE: "clickhouse.database",
    CLICKHOUSE_CLUSTER: "clickhouse.cluster",
    COLLECTOR_PUBSUB_NAME: "dapr.pubsub.name",
    COLLECTOR_TOPIC: "dapr.subscription.topic",
    COLLECTOR_DEAD_LETTER_TOPIC: "dapr.subscription.deadLetterTopic",
    COLLECTOR_BULK_MAX_MESSAGES: "dapr.subscription.bulk.maxMessagesCount",
    COLLECTOR_BULK_MAX_AWAIT_MS: "dapr.subscription.bulk.maxAwaitDurationMs",
  },
  secrets: {
    CLICKHOUSE_PASSWORD: "clickhouse.password or clickhouse.existingSecret",
    REDIS_URL: "redis.url or redis.existingSecret",
    APP_API_TOKEN: 'appToken.value or appToken.existingSecret (key "token")',
    ADMIN_API_TOKEN: "adminToken.value or adminToken.existingSecret (optional: unset = /admin/* off)",
  },
  notSet: {
    DATA_DIR: "embedded engine only: the image has no chdb and the chart always sets CLICKHOUSE_URL",
  },
} as const;

const derivedNames = new Set(Object.values(chartDerived).flatMap((group) => Object.keys(group)));

/** The values.yaml map holding a variable: `config` (both apps), `collector.config` or `query.config`. */
export function configMapOf(name: string): "config" | "collector" | "query" | null {
  if (derivedNames.has(name)) return null;
  const inCollector = name in processSchemas.collector;
  const inQuery = name in processSchemas.query;
  if (inCollector && inQuery) return "config";
  if (inCollector) return "collector";
  if (inQuery) return "query";
  throw new Error(`${name} is read by neither app`);
}

export function allVariables(): string[] {
  return [
    ...new Set([
      ...Object.keys(processSchemas.collector),
      ...Object.keys(processSchemas.query),
      ...Object.keys(processSchemas.migrate),
    ]),
  ];
}

type JsonSchema = Record<string, unknown>;

const INT_TEXT = "^-?[0-9]+$";
const NUMBER_TEXT = "^-?[0-9]+(\\.[0-9]+)?$";

function bounds(f: { min?: number; max?: number }): JsonSchema {
  return {
    ...(f.min !== undefined ? { minimum: f.min } : {}),
    ...(f.max !== undefined ? { maximum: f.max } : {}),
  };
}

/** One variable as a value in a `config` map: its type, or its text as the environment carries it. */
export function fieldSchema(f: Field): JsonSchema {
  const description = f.doc;
  switch (f.type) {
    case "int":
      return {
        description,
        anyOf: [
          { type: "integer", ...bounds(f) },
          { type: "string", pattern: INT_TEXT },
        ],
      };
    case "number":
      return {
        description,
        anyOf: [
          { type: "number", ...bounds(f) },
          { type: "string", pattern: NUMBER_TEXT },
        ],
      };
    case "bool":
      return {
        description,
        anyOf: [
          { type: "boolean" },
          { type: "string", enum: ["1", "0", "true", "false", "yes", "no", "on", "off"] },
        ],
      };
    case "enum":
      return { description, type: "string", enum: [...f.values] };
    case "url":
      return { description, type: "string", pattern: `^(${f.protocols.join("|")})://` };
    case "list":
      return { description, anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }] };
    case "string":
      return { description, type: "string", ...(f.pattern ? { pattern: f.pattern.source } : {}) };
  }
}

function configMapSchema(names: string[], schema: Schema, description: string): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const n of [...names].sort()) properties[n] = fieldSchema(schema[n]!);
  return { type: "object", description, additionalProperties: false, properties };
}

const str = { type: "string" };
const obj = { type: "object" };
const bool = { type: "boolean" };
const int = (minimum = 0, maximum?: number) => ({
  type: "integer",
  minimum,
  ...(maximum ? { maximum } : {}),
});
const strict = (properties: Record<string, unknown>, required: string[] = Object.keys(properties)) => ({
  type: "object",
  additionalProperties: false,
  required,
  properties,
});
const duration = { type: "string", pattern: "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$" };
/** Redelivery in the Redis pub/sub needs both of its durations non-zero. */
const nonZeroDuration = { type: "string", pattern: "^[0-9]*[1-9][0-9]*(ms|s|m|h)$" };
const k8sName = { type: "string", pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength: 63 };
const daprName = { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]*$" };
const anyList = { type: "array" };

function appSchema(app: "collector" | "query"): JsonSchema {
  const all = processSchemas[app];
  const own = Object.keys(all).filter((n) => configMapOf(n) === app);
  const shared = Object.keys(all).filter((n) => configMapOf(n) === "config");
  return strict({
    appId: daprName,
    port: int(1, 65535),
    replicas: int(0),
    autoscaling: strict({
      enabled: bool,
      minReplicas: int(1),
      maxReplicas: int(1),
      targetCPUUtilizationPercentage: int(1, 100),
      behavior: obj,
    }),
    podDisruptionBudget: strict({ enabled: bool, maxUnavailable: { type: ["integer", "string"] } }),
    terminationGraceMarginSeconds: int(0),
    config: configMapSchema(
      [...own, ...shared],
      all,
      `the ${app}'s own variables, and overrides of the shared config (generated from the config schemas)`,
    ),
    resources: obj,
    service: strict({ type: { enum: ["ClusterIP", "NodePort", "LoadBalancer"] }, port: int(1, 65535) }),
    networkPolicy: strict({ httpFrom: anyList }),
    podAnnotations: { type: "object", additionalProperties: str },
    nodeSelector: obj,
    affinity: obj,
    tolerations: anyList,
    topologySpreadConstraints: anyList,
  });
}

export function chartValuesSchema(): JsonSchema {
  const shared = allVariables().filter((n) => configMapOf(n) === "config");
  const sharedSchema: Schema = { ...processSchemas.collector, ...processSchemas.query };
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    title: "BudMetrics chart values (generated by pnpm chart:schema --write; do not edit)",
    ...strict({
      nameOverride: str,
      fullnameOverride: str,
      image: strict({
        repository: { type: "string", minLength: 1 },
        tag: str,
        digest: { type: "string", pattern: "^(|sha256:[0-9a-f]{64})$" },
        pullPolicy: { enum: ["Always", "IfNotPresent", "Never"] },
      }),
      imagePullSecrets: anyList,
      clickhouse: strict({
        url: { type: "string", pattern: "^(|https?://.+)$", description: "required at install" },
        user: { type: "string", minLength: 1 },
        password: str,
        existingSecret: str,
        existingSecretKey: { type: "string", minLength: 1 },
        database: fieldSchema(clickhouseConfigSchema.CLICKHOUSE_DATABASE),
        cluster: {
          type: "string",
          pattern: `^(|${clickhouseConfigSchema.CLICKHOUSE_CLUSTER.pattern!.source.slice(1, -1)})$`,
        },
      }),
      redis: strict({
        url: {
          type: "string",
          pattern: "^(|rediss?://.+)$",
          description: "required at install (or existingSecret)",
        },
        existingSecret: str,
        existingSecretKey: { type: "string", minLength: 1 },
      }),
      appToken: strict({ value: str, existingSecret: str }),
      adminToken: strict({
        value: str,
        existingSecret: str,
        existingSecretKey: { type: "string", minLength: 1 },
      }),
      config: configMapSchema(
        shared,
        sharedSchema,
        "variables both apps read (generated from the config schemas)",
      ),
      dapr: strict({
        logLevel: { enum: ["debug", "info", "warn", "error", "fatal"] },
        apiTokenSecret: str,
        config: str,
        appHealth: strict({ probeIntervalSeconds: int(1), probeTimeoutMs: int(1), threshold: int(1) }),
        extraAnnotations: { type: "object", additionalProperties: str },
        pubsub: strict({
          create: bool,
          name: daprName,
          redisHost: { type: "string", minLength: 1 },
          redisPasswordSecret: strict({ name: str, key: str }),
          secretStore: str,
          enableTLS: bool,
          consumerID: { type: "string", minLength: 1 },
          redeliverInterval: nonZeroDuration,
          processingTimeout: nonZeroDuration,
          concurrency: int(1),
          queueDepth: int(1),
          maxLenApprox: int(1),
          extraMetadata: { type: "object", additionalProperties: { type: ["string", "number", "boolean"] } },
          scopes: { type: "array", items: str },
        }),
        subscription: strict({
          name: k8sName,
          topic: daprName,
          deadLetterTopic: daprName,
          bulk: strict({
            maxMessagesCount: int(
              collectorConfigSchema.COLLECTOR_BULK_MAX_MESSAGES.min,
              collectorConfigSchema.COLLECTOR_BULK_MAX_MESSAGES.max,
            ),
            maxAwaitDurationMs: int(collectorConfigSchema.COLLECTOR_BULK_MAX_AWAIT_MS.min),
          }),
        }),
        resiliency: strict({
          create: bool,
          name: k8sName,
          retry: strict({
            policy: { enum: ["exponential", "constant"] },
            maxInterval: duration,
            maxRetries: int(-1),
          }),
          deliveryTimeout: duration,
          circuitBreaker: strict({
            maxRequests: int(1),
            interval: duration,
            timeout: duration,
            trip: { type: "string", minLength: 1 },
          }),
        }),
      }),
      collector: appSchema("collector"),
      query: appSchema("query"),
      migrations: strict({
        enabled: bool,
        pauseCollector: bool,
        maxRetries: int(0),
        retryDelaySeconds: { type: "number", minimum: 0 },
        backoffLimit: int(0),
        activeDeadlineSeconds: int(1),
        resources: obj,
      }),
      serviceMonitor: strict({
        enabled: bool,
        interval: duration,
        labels: { type: "object", additionalProperties: str },
      }),
      networkPolicy: strict({ enabled: bool, daprInternalGrpcPort: int(1, 65535), metricsFrom: anyList }),
    }),
  };
}

export const VALUES_SCHEMA_FILE = path.resolve(__dirname, "../helm/budmetrics/values.schema.json");

export function chartValuesSchemaText(): string {
  return `${JSON.stringify(chartValuesSchema(), null, 2)}\n`;
}

if (require.main === module) {
  if (process.argv.includes("--write")) fs.writeFileSync(VALUES_SCHEMA_FILE, chartValuesSchemaText());
  else process.stdout.write(chartValuesSchemaText());
}
