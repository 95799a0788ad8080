import { GRAIN_MS, GRAINS_COARSE_FIRST, type Grain, type RollupLevel } from "@budmetrics/schema";
import { levelFor } from "./queries";

export type Segment =
  | { source: "rollup"; grain: Grain; fromMs: number; toMs: number }
  | { source: "raw"; fromMs: number; toMs: number };

/**
 * Which table answers which part of [edges[0], edges[last]).
 *
 * Rules (migrations/0004 header): a grain g serves a bucket exactly when both of its edges are
 * multiples of g since the epoch. The planner takes the coarsest grain that divides every interior
 * edge, reads that rollup for the widest g-aligned stretch, and covers the unaligned ends (from_date
 * or to_date between grain marks, e.g. to_date = now) with finer grains down to the hour, and raw rows
 * for the last < 1 hour. All pieces produce the same mergeable states, so the merge is exact. When no
 * grain divides the interior edges, or the request needs columns only the raw table has, it is raw.
 * A range that ends at now, with nothing stored after its end (`emptyUntil`, from the service's look
 * at the raw rows), needs no raw tail: the rollup bucket that holds its end holds only earlier rows.
 *
 * Why not the 5-minute grain at the ends: an end between 5-minute marks needs raw rows anyway, and
 * when this rule was measured a raw piece scanned the month's partition whatever its length (the raw
 * table is sorted by project, model, endpoint before time), so widening it from < 5 minutes to < 1
 * hour added only that hour's rows, while a 5-minute piece reads whole granules of sketch states
 * (docs/QUERY.md, "Where the time goes"). Raw pieces of rollup-served questions now read the
 * time-ordered copy (migrations/0019), which reads about the piece's own rows; the rule was not
 * measured again. The 5-minute grain still serves buckets whose edges need it.
 */
export function planSegments(
  edges: readonly number[],
  rawOnly: boolean,
  /**
   * No raw row arrived in [last edge, emptyUntil) (a range that ends at now: its end is the newest
   * data). The rollup bucket that holds the last edge then holds exactly the rows before it, so the
   * end is covered by the coarsest grain whose next mark is at most emptyUntil, with no raw piece.
   */
  emptyUntil?: number,
): Segment[] {
  const fromMs = edges[0]!;
  const toMs = edges[edges.length - 1]!;
  if (rawOnly) return [{ source: "raw", fromMs, toMs }];
  const interior = edges.slice(1, -1);
  const start = GRAINS_COARSE_FIRST.findIndex((g) => interior.every((e) => e % GRAIN_MS[g] === 0));
  if (start < 0) return [{ source: "raw", fromMs, toMs }];
  const out: Segment[] = [];
  const ladder = GRAINS_COARSE_FIRST.slice(start);
  const grains = ladder.length > 1 ? ladder.filter((g) => g !== "5m") : ladder;
  let end = toMs;
  if (emptyUntil !== undefined) {
    for (const g of grains) {
      const up = Math.ceil(toMs / GRAIN_MS[g]) * GRAIN_MS[g];
      if (up <= emptyUntil) {
        end = up;
        break;
      }
    }
  }
  cover(fromMs, end, grains, out);
  return out.sort((a, b) => a.fromMs - b.fromMs);
}

function cover(a: number, b: number, grains: readonly Grain[], out: Segment[]): void {
  if (a >= b) return;
  const [g, ...rest] = grains;
  if (g === undefined) {
    out.push({ source: "raw", fromMs: a, toMs: b });
    return;
  }
  const step = GRAIN_MS[g];
  const lo = Math.ceil(a / step) * step;
  const hi = Math.floor(b / step) * step;
  if (lo >= hi) {
    cover(a, b, rest, out);
    return;
  }
  out.push({ source: "rollup", grain: g, fromMs: lo, toMs: hi });
  cover(a, lo, rest, out);
  cover(hi, b, rest, out);
}

/** Short text of a plan for logs, perf records and the benchmark, e.g. `total_1d+dims_1h+dims_5m+raw`. */
export function describePlan(segments: readonly Segment[], level: RollupLevel = "dims"): string {
  return segments
    .map((s) => (s.source === "raw" ? "raw" : `${levelFor(s.grain, level)}_${s.grain}`))
    .join("+");
}
