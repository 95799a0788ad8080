/**
 * Request schemas (JSON Schema 2020-12 subset that ajv and OpenAPI 3.1 both read). The same objects
 * validate requests and make /openapi.json.
 */
import type { FromSchema } from "json-schema-to-ts";
import { Tables } from "@budmetrics/schema";
import { DIM_VALUES } from "../analytics/queries";
const str = (maxLength = 256) => ({ type: "string", maxLength }) as const;
const dateText = {
  type: "string",
  minLength: 10,
  maxLength: 40,
  description: "ISO-8601 date or date-time; without an offset it is read in `timezone`",
} as const;
const timezone = { type: "string", maxLength: 64, description: "IANA time zone (default UTC)" } as const;
const filterValue = {
  anyOf: [str(), { type: "array", items: str(), minItems: 1, maxItems: 200 }],
  description: "scalar or list; UUID values match the id column, other values the name column",
} as const;
const metricName = { type: "string", pattern: "^[a-z][a-z0-9_.]*$", maxLength: 100 } as const;
const groupBy = {
  anyOf: [
    { type: "array", items: { enum: DIM_VALUES }, maxItems: 5 },
    { enum: DIM_VALUES },
    { type: "null" },
  ],
} as const;
const filters = {
  anyOf: [
    {
      type: "object",
      additionalProperties: false,
      properties: {
        model: filterValue,
        project: filterValue,
        endpoint: filterValue,
        cluster: filterValue,
        prompt: filterValue,
        user_project: filterValue,
        api_key: filterValue,
      },
    },
    { type: "null" },
  ],
} as const;

export const analyticsBody = {
  type: "object",
  additionalProperties: false,
  required: ["metrics"],
  properties: {
    metrics: { type: "array", items: metricName, minItems: 1, maxItems: 30 },
    from_date: dateText,
    to_date: { anyOf: [dateText, { type: "null" }], description: "null = now" },
    frequency_unit: { enum: ["hour", "day", "week", "month", "quarter", "year"] },
    frequency_interval: { anyOf: [{ type: "integer", minimum: 1, maximum: 1000 }, { type: "null" }] },
    filters,
    group_by: groupBy,
    return_delta: { type: "boolean" },
    fill_time_gaps: { type: "boolean" },
    topk: { anyOf: [{ type: "integer", minimum: 1, maximum: 1000 }, { type: "null" }] },
    data_source: { enum: ["inference", "prompt"] },
    timezone,
    time_range: {
      type: "object",
      additionalProperties: false,
      required: ["from_date"],
      properties: { from_date: dateText, to_date: { anyOf: [dateText, { type: "null" }] } },
    },
    interval: { enum: ["minutely", "hourly", "daily", "weekly", "monthly", "quarterly", "yearly"] },
    aggregation: {
      type: "object",
      additionalProperties: false,
      required: ["type"],
      properties: {
        type: { enum: ["sum", "avg", "min", "max", "count", "percentile"] },
        percentile: { type: "number", minimum: 0, maximum: 100 },
      },
    },
    comparison: {
      type: "object",
      additionalProperties: false,
      required: ["type"],
      properties: {
        type: { enum: ["previous_period"] },
        periods: { type: "integer", minimum: 1, maximum: 12 },
      },
    },
    limit: { anyOf: [{ type: "integer", minimum: 1, maximum: 10000 }, { type: "null" }] },
  },
} as const;
export type AnalyticsBody = FromSchema<typeof analyticsBody>;

export const usageByProjectQuery = {
  type: "object",
  additionalProperties: false,
  required: ["from_date"],
  properties: {
    from_date: dateText,
    to_date: dateText,
    timezone,
    limit: { type: "integer", minimum: 1, maximum: 10000 },
  },
} as const;

export const OPTIMIZABLE_TABLES = [
  Tables.inferenceEvents,
  Tables.inferenceEventsByTime,
  Tables.inferenceIds,
  Tables.metricSamples,
  Tables.inferenceRollup,
  ...Object.values(Tables.sampleRollup),
] as const;

export const optimizeBody = {
  type: "object",
  additionalProperties: false,
  properties: {
    tables: {
      type: "array",
      items: { enum: OPTIMIZABLE_TABLES },
      minItems: 1,
      maxItems: OPTIMIZABLE_TABLES.length,
    },
    final: { type: "boolean", description: "OPTIMIZE … FINAL (merge all parts; expensive)" },
  },
} as const;

export const emptyQuery = { type: "object", additionalProperties: false, properties: {} } as const;
