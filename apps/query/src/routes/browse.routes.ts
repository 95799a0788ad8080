import { resolveRange } from "../analytics/parse";
import { isValidZone } from "../analytics/time";
import { INFERENCE_CATALOG, INFERENCE_METRICS } from "../analytics/catalog";
import {
  decodeCursor,
  getInference,
  inferenceFeedback,
  listInferences,
  metricsSummary,
  sampleTypes,
  usageByProject,
} from "../browse/service";
import { postEndpoint } from "../compat/endpoint";
import type { GeoLookup } from "../compat/geo";
import { inferenceIdParams, inferenceListBody, type InferenceListBody } from "../compat/schemas";
import { isUuid, normaliseFilters } from "../compat/service";
import { callerRange, requireDate } from "../compat/time";
import { queryErrors, validation } from "../errors";
import type { Endpoint } from "../http/endpoint";
import { emptyQuery, usageByProjectQuery } from "../http/schemas";

export interface BrowseRouteOptions {
  maxRangeDays: number;
  previewChars: number;
  /** Location of request IPs in inference details (null: not resolved). */
  geoLookup: GeoLookup | null;
}

function zoneOf(tz: unknown): string {
  const zone = typeof tz === "string" ? tz : "UTC";
  if (!isValidZone(zone)) throw validation(`timezone must be an IANA time zone name, got "${zone}"`);
  return zone;
}

export function browseEndpoints(opts: BrowseRouteOptions): Endpoint[] {
  const limits = { maxRangeDays: opts.maxRangeDays };
  return [
    postEndpoint<InferenceListBody>(inferenceListBody, {
      path: "/observability/inferences/list",
      tag: "inferences",
      summary: "Inferences with filters, sorting, offset (or cursor) pagination and text previews",
      description:
        "The Bud stack's request (nulls accepted, unknown keys ignored) and answer (`items`, `total_count`, `offset`, `limit`, `has_more`). " +
        "filters: api_key_project_id, project_id, model_id, endpoint_id, user_id, api_key_id, prompt_id (a value or a list; an empty list matches nothing). " +
        "Send `cursor` (null for the first page) to page by keyset: the answer then also has `next_cursor`.",
      prepare(b, nowMs) {
        let fromMs: number | null = null;
        let toMs: number | null = null;
        if (b.from_date !== undefined) {
          ({ fromMs, toMs } = callerRange(b.from_date, b.to_date, nowMs, {
            maxRangeDays: opts.maxRangeDays,
            futureLimit: true,
          }));
        } else if (b.to_date != null) {
          toMs = requireDate(b.to_date, "to_date");
        }
        const filters = normaliseFilters(b.filters);
        for (const key of ["project_id", "endpoint_id", "model_id"] as const) {
          const v = b[key];
          if (v != null) filters[key] = [v.toLowerCase()];
        }
        if (b.min_tokens != null && b.max_tokens != null && b.min_tokens > b.max_tokens) {
          throw validation("min_tokens must not exceed max_tokens");
        }
        const spec = {
          fromMs,
          toMs,
          filters,
          ...(b.is_success != null ? { isSuccess: b.is_success } : {}),
          ...(b.min_tokens != null ? { minTokens: b.min_tokens } : {}),
          ...(b.max_tokens != null ? { maxTokens: b.max_tokens } : {}),
          ...(b.max_latency_ms != null ? { maxLatencyMs: b.max_latency_ms } : {}),
          ...(b.endpoint_type != null ? { endpointType: b.endpoint_type } : {}),
          sortBy: b.sort_by ?? "timestamp",
          order: b.sort_order ?? "desc",
          offset: b.offset ?? 0,
          limit: b.limit ?? 50,
          ...(b.cursor ? { cursor: decodeCursor(b.cursor) } : {}),
          previewChars: opts.previewChars,
        };
        if (spec.cursor && spec.offset > 0) throw validation("use either cursor or offset, not both");
        const withCursor = b.cursor !== undefined;
        return {
          async run(rc) {
            return { body: await listInferences(rc.sql, spec, withCursor), plan: "raw" };
          },
        };
      },
    }),
    {
      method: "get",
      path: "/observability/inferences/:id",
      tag: "inferences",
      summary: "One inference in full (the Bud stack's detail shape, plus every stored field)",
      params: inferenceIdParams,
      responses: { "404": "no inference has this id" },
      prepare(input) {
        const id = input.params.id!;
        if (!isUuid(id))
          throw queryErrors.create("INFERENCE_NOT_FOUND", `inference ${id} not found (ids are UUIDs)`);
        return {
          async run(rc) {
            return { body: await getInference(rc.sql, id, opts.geoLookup), plan: "raw" };
          },
        };
      },
    },
    {
      method: "get",
      path: "/observability/inferences/:id/feedback",
      tag: "inferences",
      summary: "Feedback of an inference: always empty (no feedback is stored yet)",
      params: inferenceIdParams,
      responses: { "404": "the id is not a UUID" },
      prepare(input) {
        const id = input.params.id!;
        if (!isUuid(id))
          throw queryErrors.create("INFERENCE_NOT_FOUND", `inference ${id} not found (ids are UUIDs)`);
        return {
          async run() {
            return { body: inferenceFeedback(id) };
          },
        };
      },
    },
    {
      method: "get",
      path: "/observability/usage/by-project",
      tag: "usage",
      summary: "Usage per project over a range, most requests first",
      query: usageByProjectQuery,
      prepare(input, nowMs) {
        const q = input.query;
        const range = resolveRange(
          String(q.from_date),
          (q.to_date as string | undefined) ?? null,
          zoneOf(q.timezone),
          nowMs,
          limits,
        );
        const spec = {
          fromMs: range.fromMs,
          toMs: range.toMs,
          limit: (q.limit as number | undefined) ?? 100,
        };
        return {
          cache: { normalised: spec, toMs: spec.toMs },
          async run(rc) {
            return { body: await usageByProject(rc.sql, spec) };
          },
        };
      },
    },
    {
      method: "get",
      path: "/observability/metrics/summary",
      tag: "metrics",
      summary: "Counts and time span of stored inferences and metric samples",
      query: emptyQuery,
      prepare() {
        return {
          async run(rc) {
            return { body: await metricsSummary(rc.sql) };
          },
        };
      },
    },
    {
      method: "get",
      path: "/observability/metrics/types",
      tag: "metrics",
      summary: "The metric catalog and every stored metric-sample name",
      query: emptyQuery,
      prepare() {
        return {
          async run(rc) {
            const samples = await sampleTypes(rc.sql);
            return {
              body: {
                object: "metric_types",
                items: [
                  ...INFERENCE_METRICS.map((name) => ({
                    name,
                    kind: "inference",
                    unit: INFERENCE_CATALOG[name].unit,
                  })),
                  ...samples.map((s) => ({ name: s.name, kind: "sample", unit: null, samples: s.samples })),
                ],
              },
            };
          },
        };
      },
    },
  ];
}
