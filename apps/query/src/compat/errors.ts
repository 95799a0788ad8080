/**
 * Validation failures in FastAPI's form, which the original answered and budapp reads
 * (`detail[0].msg`, `detail[0].loc` joined without "body"): `{"detail": [{loc, msg, type}]}`. BudMetrics'
 * own `error` object stays beside it, so clients of either form read the same answer.
 */
import type { AppError } from "@budmetrics/errors";
import type { SchemaViolation } from "../http/validate";

export interface FastApiError {
  loc: Array<string | number>;
  msg: string;
  type: string;
}

/** The field a cross-field rule belongs to, as the original's validators attach them. */
const FIELD_OF_CODE: Readonly<Record<string, string>> = {
  QUERY_RANGE_INVALID: "to_date",
  QUERY_RANGE_TOO_LONG: "to_date",
};

function isViolations(cause: unknown): cause is { violations: SchemaViolation[] } {
  return (
    typeof cause === "object" &&
    cause !== null &&
    Array.isArray((cause as { violations?: unknown }).violations)
  );
}

/** List indexes are numbers in FastAPI's `loc` (`["body", "metrics", 1]`). */
function locOf(parts: readonly string[]): Array<string | number> {
  return parts.map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

function fromViolation(v: SchemaViolation): FastApiError {
  const loc = locOf(v.loc);
  switch (v.keyword) {
    case "required":
      return { loc, msg: "Field required", type: "missing" };
    case "enum":
    case "const":
      return { loc, msg: v.message, type: "literal_error" };
    case "type":
      return { loc, msg: v.message, type: "type_error" };
    case "additionalProperties":
      return { loc, msg: "Extra inputs are not permitted", type: "extra_forbidden" };
    default:
      return { loc, msg: `Value error, ${v.message}`, type: "value_error" };
  }
}

export function fastApiDetail(err: AppError, where: "body" | "query"): FastApiError[] {
  if (isViolations(err.cause)) return err.cause.violations.map(fromViolation);
  const field = typeof err.details?.field === "string" ? err.details.field : FIELD_OF_CODE[err.code];
  return [
    {
      loc: locOf(field === undefined ? [where] : [where, ...field.split(".")]),
      msg: `Value error, ${err.publicMessage}`,
      type: "value_error",
    },
  ];
}

/** The 422 body of a Bud-stack endpoint: FastAPI's `detail` and BudMetrics' `error`. */
export function compatValidationBody(err: AppError, where: "body" | "query") {
  return { detail: fastApiDetail(err, where), error: err.toJSON() };
}
