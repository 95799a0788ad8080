/**
 * Endpoints whose handlers receive the request already typed from its JSON schema: `T` is the
 * schema's `FromSchema` type (declared beside the schema in ./schemas). The edge (http/endpoint.ts)
 * validates the body or query string against exactly this schema before `prepare` runs, so the
 * narrowing below is what that validation established. Their 422 answers carry FastAPI's `detail`
 * list beside BudMetrics' `error` (./errors).
 */
import type { Endpoint, Input, Prepared } from "../http/endpoint";
import { compatValidationBody } from "./errors";

type Meta = Omit<Endpoint, "method" | "body" | "query" | "prepare">;

export function postEndpoint<T>(
  body: object,
  meta: Meta & { prepare(body: T, nowMs: number, input: Input): Prepared },
): Endpoint {
  const { prepare, ...rest } = meta;
  return {
    ...rest,
    method: "post",
    body,
    validationBody: (err) => compatValidationBody(err, "body"),
    prepare: (input, nowMs) => prepare(input.body as T, nowMs, input),
  };
}

export function getEndpoint<T>(
  query: object,
  meta: Meta & { prepare(query: T, nowMs: number, input: Input): Prepared },
): Endpoint {
  const { prepare, ...rest } = meta;
  return {
    ...rest,
    method: "get",
    query,
    validationBody: (err) => compatValidationBody(err, "query"),
    prepare: (input, nowMs) => prepare(input.query as T, nowMs, input),
  };
}
