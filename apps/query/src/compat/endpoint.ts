/**
 * Endpoints whose handlers receive the request already typed from its JSON schema: `T` is the
 * schema's `FromSchema` type (declared beside the schema in ./schemas). The helpers are the edge's
 * own (http/endpoint.ts, which validates against exactly that schema); the Bud-stack routes add
 * their 422 answer, which carries FastAPI's `detail` list beside BudMetrics' `error` (./errors).
 */
import { getEndpoint as typedGet, postEndpoint as typedPost, type Endpoint } from "../http/endpoint";
import { compatValidationBody } from "./errors";

export function postEndpoint<T>(body: object, meta: Parameters<typeof typedPost<T>>[1]): Endpoint {
  return typedPost<T>(body, { validationBody: (err) => compatValidationBody(err, "body"), ...meta });
}

export function getEndpoint<T>(query: object, meta: Parameters<typeof typedGet<T>>[1]): Endpoint {
  return typedGet<T>(query, { validationBody: (err) => compatValidationBody(err, "query"), ...meta });
}
