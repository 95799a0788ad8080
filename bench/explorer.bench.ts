/**
 * pnpm bench:explorer — time to first chart of the explorer page (/ui) in headless Chromium, against a
 * running BudMetrics (`pnpm start` and `pnpm seed` first).
 *
 *   first:    one page load (on a freshly started app, this is the one that builds the bundle);
 *   computed: --runs page loads, each asking a question the app has not answered yet (a different
 *             third metric beside request count and latency), so the answer is computed;
 *   cached:   --runs page loads of the same question (answered from the app's cache).
 * Each load is a new browser context (nothing cached in the browser). Reported per phase, in ms from
 * navigation start (median, min, max): html (shell received), js (script received), dcl (script
 * evaluated), api (the analytics call's duration), first (first chart drawn).
 *
 * Flags: --url http://127.0.0.1:9085 · --runs 10 · --token T (default $APP_API_TOKEN)
 * Environment: CHROMIUM_PATH (default: chromium on PATH)
 */
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { chromium, type Browser } from "playwright-core";

const THIRD_METRICS = [
  "ttft",
  "cost",
  "input_token",
  "output_token",
  "throughput",
  "cache",
  "success_request",
  "failure_request",
  "total_token",
  "queuing_time",
];

interface Load {
  first: number;
  html: number;
  js: number;
  dcl: number;
  api: number;
}

/** Runs in the page: the phases of this load (resource and navigation timing, the page's probe). */
function phases(): Load {
  const g = globalThis as unknown as {
    __explorer: { firstChartMs: number };
    performance: {
      getEntriesByType(t: string): Array<{
        name: string;
        startTime: number;
        responseEnd: number;
        domContentLoadedEventEnd?: number;
      }>;
    };
  };
  const res = g.performance.getEntriesByType("resource");
  const nav = g.performance.getEntriesByType("navigation")[0]!;
  const api = res.find((e) => e.name.includes("/observability/analytics?"))!;
  const js = res.find((e) => e.name.includes("/ui/app.js"))!;
  return {
    first: g.__explorer.firstChartMs,
    html: Math.round(nav.responseEnd),
    js: Math.round(js.responseEnd),
    dcl: Math.round(nav.domContentLoadedEventEnd ?? 0),
    api: Math.round(api.responseEnd - api.startTime),
  };
}

async function loadOnce(browser: Browser, url: string, token: string): Promise<Load> {
  const context = await browser.newContext();
  const page = await context.newPage();
  if (token)
    await page.addInitScript(
      (t) =>
        (
          globalThis as unknown as { sessionStorage: { setItem(k: string, v: string): void } }
        ).sessionStorage.setItem("budmetrics.token", t),
      token,
    );
  await page.goto(url);
  await page.waitForFunction(
    () => (globalThis as unknown as { __explorer?: { renders: number } }).__explorer!.renders > 0,
    null,
    { timeout: 60_000 },
  );
  const out = await page.evaluate(phases);
  await context.close();
  return out;
}

function summary(loads: Load[]) {
  const keys = ["html", "js", "dcl", "api", "first"] as const;
  return Object.fromEntries(
    keys.map((k) => {
      const xs = loads.map((l) => l[k]).sort((a, b) => a - b);
      return [k, { median: xs[Math.floor(xs.length / 2)]!, min: xs[0]!, max: xs[xs.length - 1]! }];
    }),
  );
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: "http://127.0.0.1:9085" },
      runs: { type: "string", default: "10" },
      token: { type: "string", default: process.env.APP_API_TOKEN ?? "" },
    },
  });
  const runs = Math.min(THIRD_METRICS.length, Math.max(1, Number(values.runs)));
  const which = spawnSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], {
    encoding: "utf8",
  });
  const executablePath = process.env.CHROMIUM_PATH || which.stdout.trim();
  if (!executablePath) {
    process.stderr.write("no Chromium: apt-get install chromium, or set CHROMIUM_PATH\n");
    return 2;
  }
  const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
  try {
    const view = `${values.url}/ui?range=7d&interval=hourly&tz=UTC`;
    const first = await loadOnce(browser, view, values.token);
    const computed: Load[] = [];
    for (let i = 0; i < runs; i++)
      computed.push(
        await loadOnce(browser, `${view}&metrics=request_count,latency,${THIRD_METRICS[i]}`, values.token),
      );
    const cached: Load[] = [];
    for (let i = 0; i < runs; i++) cached.push(await loadOnce(browser, view, values.token));
    process.stdout.write(
      `${JSON.stringify({ first, computed: summary(computed), cached: summary(cached) }, null, 2)}\n`,
    );
  } finally {
    await browser.close();
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
