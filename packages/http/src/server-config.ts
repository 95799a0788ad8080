import { defineSchema } from "@budmetrics/config";
import { DEFAULT_REQUESTS_PER_TURN } from "./turn-budget";

/**
 * Dapr app token (`APP_API_TOKEN`, sent by daprd as the `dapr-api-token` header; docs/DEPLOYMENT.md): the host checks it on every route but health for every app it serves,
 * so the query app is protected exactly like the collector.
 */
export const appTokenConfigSchema = defineSchema({
  APP_API_TOKEN: {
    type: "string",
    default: null,
    secret: true,
    doc: "when set, every request but health and /metrics must carry this value in the dapr-api-token header",
  },
});

/** Administrative routes (`/admin/*`): their own token, never the Dapr app token. */
export const adminTokenConfigSchema = defineSchema({
  ADMIN_API_TOKEN: {
    type: "string",
    default: null,
    secret: true,
    doc: "when set, /admin/* routes need the header Authorization: Bearer <this value>; unset = /admin/* off, except from loopback in the all-in-one pnpm start",
  },
});

/** Process-level settings every entry point shares (the app token included); only the default port differs. */
export function serverConfigSchema(defaultPort: number) {
  return defineSchema({
    ...appTokenConfigSchema,
    ...adminTokenConfigSchema,
    HOST: { type: "string", default: "127.0.0.1", doc: "interface to listen on (0.0.0.0 in containers)" },
    PORT: { type: "int", min: 0, max: 65535, default: defaultPort, doc: "HTTP port" },
    HTTP_REQUESTS_PER_TURN: {
      type: "int",
      min: 0,
      default: DEFAULT_REQUESTS_PER_TURN,
      doc: "requests dispatched per event-loop turn, the rest wait for the next turns, so a busy server still accepts new connections quickly (0 = unbounded)",
    },
    LOG_LEVEL: {
      type: "enum",
      values: ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
      default: "info",
      doc: "pino log level",
    },
    SHUTDOWN_DEADLINE_MS: {
      type: "int",
      min: 100,
      default: 20_000,
      doc: "SIGTERM: total time for drain and close before the process exits anyway",
    },
    DRAIN_TIMEOUT_MS: {
      type: "int",
      min: 100,
      default: 15_000,
      doc: "SIGTERM: time allowed to flush batches in flight (part of SHUTDOWN_DEADLINE_MS)",
    },
  });
}

/** Redis, shared by the query cache and the collector's claims (server mode). */
export const redisConfigSchema = defineSchema({
  REDIS_URL: {
    type: "url",
    protocols: ["redis", "rediss"],
    default: null,
    doc: "Redis for the query cache and the collector's cross-replica claims. Unset = in-process memory",
  },
});
