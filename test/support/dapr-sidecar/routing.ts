/**
 * Route selection as daprd does it for a subscription with rules: the first rule whose CEL
 * expression is true wins, else `default`, else the event is not routed (dropped, dead-lettered).
 *
 * CEL here is only what subscriptions in this project use: `event.<attr> == "<string>"`, joined by
 * `&&` / `||`. Anything else throws at start-up, so the model never routes differently from daprd
 * without saying so.
 */
export type RouteMatcher = (event: Record<string, unknown>) => string | undefined;

type Predicate = (event: Record<string, unknown>) => boolean;

function compileTerm(term: string): Predicate {
  const m = /^event\.([A-Za-z_][A-Za-z0-9_]*)\s*(==|!=)\s*"((?:[^"\\]|\\.)*)"$/.exec(term.trim());
  if (!m) throw new Error(`CEL expression not supported by the sidecar model: ${term}`);
  const [, attr, op, raw] = m;
  const value = JSON.parse(`"${raw}"`) as string;
  return op === "==" ? (e) => e[attr!] === value : (e) => e[attr!] !== value;
}

export function compileMatch(expr: string): Predicate {
  const ors = expr.split("||").map((part) => part.split("&&").map(compileTerm));
  return (e) => ors.some((ands) => ands.every((p) => p(e)));
}

export function createRouter(routes: {
  rules?: Array<{ match: string; path: string }>;
  default?: string;
}): RouteMatcher {
  const rules = (routes.rules ?? []).map((r) => ({ test: compileMatch(r.match), path: r.path }));
  return (event) => {
    for (const r of rules) if (r.test(event)) return r.path;
    return routes.default || undefined;
  };
}
