/**
 * The explorer page in a real browser: `playwright-core` driving the system's Chromium headless,
 * against the `pnpm start` entry point (embedded engine, an app token set) seeded by `pnpm seed`.
 * The page loads, asks for the token, draws its charts; changing a filter changes the chart; the
 * numbers shown are the API's; the inference list opens its detail drawer; an answer's `meta` is
 * shown. Screenshots and the measured time to first chart go to test-artifacts/explorer/ (ignored by git).
 *
 * No browser → skipped with the reason printed. .ci/run installs Debian's `chromium`; elsewhere
 * `apt-get install chromium`, or point CHROMIUM_PATH at a Chrome or Chromium binary.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { chromium, type Browser, type Page } from "playwright-core";

const ROOT = path.resolve(__dirname, "../..");
const TSX = path.join(ROOT, "node_modules/.bin/tsx");
const ARTIFACTS = path.join(ROOT, "test-artifacts/explorer");
const TOKEN = "explorer-test-token";

function findBrowser(): { path: string | null; reason: string } {
  const candidates = [
    process.env.CHROMIUM_PATH,
    ...["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"].map((bin) => {
      const r = spawnSync("sh", ["-c", `command -v ${bin}`], { encoding: "utf8" });
      return r.status === 0 ? r.stdout.trim() : undefined;
    }),
  ].filter((p): p is string => !!p && fs.existsSync(p));
  if (candidates.length > 0) return { path: candidates[0]!, reason: "" };
  return {
    path: null,
    reason: "no Chromium found (CHROMIUM_PATH unset; no chromium, chromium-browser or google-chrome on PATH)",
  };
}

const browserBin = findBrowser();
if (!browserBin.path) {
  console.warn(
    `\n${"*".repeat(100)}\n*** SKIPPED test/e2e/explorer.browser.test.ts: ${browserBin.reason}.\n` +
      `*** The explorer page is NOT tested in a browser. Install one: apt-get install chromium (.ci/run does).\n${"*".repeat(100)}\n`,
  );
}

interface Probe {
  firstChartMs: number | null;
  lastRequest: Record<string, unknown> | null;
  lastAnswer: Answer | null;
  renders: number;
  error: string | null;
}
interface Answer {
  items: Array<{ time_period: string; items: Array<{ data: Record<string, Record<string, unknown>> }> }>;
}

function startServer(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(TSX, ["apps/standalone/src/main.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: "0",
      LOG_LEVEL: "info",
      DATA_DIR: dataDir,
      CLICKHOUSE_DATABASE: "bm_explorer",
      APP_API_TOKEN: TOKEN,
      REDIS_URL: "",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`not listening after 60 s:\n${lines.join("\n")}`)),
      60_000,
    );
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      lines.push(line);
      const entry = JSON.parse(line) as { msg?: string; address?: { port: number } };
      if (entry.msg === "listening" && entry.address) {
        clearTimeout(timer);
        resolve({ child, url: `http://127.0.0.1:${entry.address.port}` });
      }
    });
    child.stderr!.on("data", (d: Buffer) => lines.push(d.toString()));
    child.once("exit", (code) => reject(new Error(`exited with ${code}:\n${lines.join("\n")}`)));
  });
}

async function api(url: string, pathname: string, body: unknown): Promise<Answer> {
  const res = await fetch(url + pathname, {
    method: "POST",
    headers: { "content-type": "application/json", "dapr-api-token": TOKEN },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Answer;
}

/** Bytes on the wire of a GET in one encoding (what a browser downloads). */
function wireBytes(url: string, encoding: "br" | "gzip"): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { "accept-encoding": encoding } }, (res) => {
        let n = 0;
        res.on("data", (c: Buffer) => (n += c.length));
        res.on("end", () => resolve(res.headers["content-encoding"] === encoding ? n : -1));
      })
      .on("error", reject);
  });
}

const probe = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { __explorer: Probe }).__explorer);
const rendersAfter = (page: Page, n: number) =>
  page.waitForFunction((k) => (globalThis as unknown as { __explorer: Probe }).__explorer.renders > k, n, {
    timeout: 30_000,
  });

/** The table view's cells as `period|group|metric.field → value`. */
async function tableCells(page: Page): Promise<Record<string, unknown>> {
  return page.$$eval("#table tbody tr", (rows) => {
    const out: Record<string, unknown> = {};
    for (const r of rows) {
      const tds = [...r.querySelectorAll("td")];
      const period = tds[0]!.textContent;
      const group = tds[1]!.textContent;
      for (const td of tds.slice(2))
        out[`${period}|${group}|${td.dataset.metric}.${td.dataset.field}`] = JSON.parse(td.dataset.value!);
    }
    return out;
  });
}

/** The API answer in the same form (ungrouped: group "all"). */
function answerCells(a: Answer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of a.items)
    for (const g of p.items)
      for (const [m, fields] of Object.entries(g.data))
        for (const [f, v] of Object.entries(fields))
          if (typeof v !== "object" || v === null) out[`${p.time_period}|all|${m}.${f}`] = v;
  return out;
}

/** Runs in the page: the token as the page keeps it (this tab's sessionStorage). */
const setToken = (t: string) =>
  (
    globalThis as unknown as { sessionStorage: { setItem(k: string, v: string): void } }
  ).sessionStorage.setItem("budmetrics.token", t);

const chartPixels = (page: Page, metric: string) =>
  page.$eval(`.chart[data-metric="${metric}"] canvas`, (c) =>
    (c as unknown as { toDataURL(): string }).toDataURL(),
  );

(browserBin.path ? describe : describe.skip)("explorer page in Chromium", () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bm-explorer-"));
  let server: ChildProcess | undefined;
  let url = "";
  let browser: Browser | undefined;

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const s = await startServer(dataDir);
    server = s.child;
    url = s.url;
    const seed = spawnSync(
      TSX,
      ["scripts/seed.ts", "--events", "4000", "--days", "2", "--seed", "7", "--url", url, "--token", TOKEN],
      { cwd: ROOT, encoding: "utf8" },
    );
    if (seed.status !== 0) throw new Error(`seed failed: ${seed.stdout}${seed.stderr}`);
    browser = await chromium.launch({
      executablePath: browserBin.path!,
      headless: true,
      // Root in CI containers: Chromium's sandbox needs user namespaces it may not have.
      args: ["--no-sandbox", "--disable-dev-shm-usage"],
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once("exit", r));
      server.kill("SIGTERM");
      await exited;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("asks for the token, draws the charts, shows the API's numbers, follows a filter, lists and details inferences", async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const view = "metrics=request_count,latency&range=24h&interval=hourly&tz=Europe/Berlin&compare=1";
    const loaded = await page.goto(`${url}/ui?${view}`);
    expect(loaded!.status()).toBe(200);

    // 1. The page is served without the token; the API refuses it until the token is entered.
    await page.waitForFunction(
      () => (globalThis as unknown as { __explorer: Probe }).__explorer.error !== null,
    );
    expect(await page.textContent("#status")).toContain("API token");
    await page.screenshot({ path: path.join(ARTIFACTS, "01-token-needed.png") });
    await page.fill("#token", TOKEN);
    await page.click("#token-form button");
    await rendersAfter(page, 0);

    // 2. Charts: one per metric, drawn on canvas, 25 hourly points, the previous period and the band.
    expect(await page.$$eval(".chart", (cs) => cs.map((c) => c.getAttribute("data-metric")))).toEqual([
      "request_count",
      "latency",
    ]);
    expect(
      Number(await page.getAttribute('.chart[data-metric="request_count"]', "data-points")),
    ).toBeGreaterThanOrEqual(24);
    const legend = await page.$$eval('.chart[data-metric="latency"] .u-legend .u-label', (ls) =>
      ls.map((l) => l.textContent),
    );
    expect(legend).toEqual(expect.arrayContaining(["all", "all (previous period)", "p50", "p95", "p99"]));
    await page.screenshot({ path: path.join(ARTIFACTS, "02-charts.png"), fullPage: true });

    // 3. The numbers shown are the API's, for the request the page shows it made.
    const first = await probe(page);
    expect(first.error).toBeNull();
    const shownRequest = JSON.parse((await page.textContent("#request-json"))!.replace(/^POST \S+\n/, ""));
    expect(shownRequest).toEqual(first.lastRequest);
    let r0 = (await probe(page)).renders;
    await page.click('#views button[data-view="table"]');
    await rendersAfter(page, r0);
    const apiAll = await api(url, "/observability/analytics", first.lastRequest);
    expect(await tableCells(page)).toEqual(answerCells(apiAll));
    const total = (a: Answer) =>
      a.items.reduce((n, p) => n + p.items.reduce((m, g) => m + Number(g.data.request_count!.count), 0), 0);
    expect(total(apiAll)).toBeGreaterThan(1000);
    await page.screenshot({ path: path.join(ARTIFACTS, "03-table.png"), fullPage: true });

    // 4. A model filter changes the chart and the numbers, which are again the API's.
    r0 = (await probe(page)).renders;
    await page.click('#views button[data-view="chart"]');
    await rendersAfter(page, r0);
    const before = await chartPixels(page, "request_count");
    await page.waitForSelector("#choices-model option", { state: "attached" });
    const model = await page.$eval("#choices-model option", (o) => (o as unknown as { value: string }).value);
    const n = (await probe(page)).renders;
    await page.fill("#filter-model", model);
    await page.dispatchEvent("#filter-model", "change");
    await rendersAfter(page, n);
    const filtered = await probe(page);
    expect(filtered.lastRequest).toMatchObject({ filters: { model: [model] } });
    expect(page.url()).toContain(`model=${encodeURIComponent(model)}`);
    expect(await chartPixels(page, "request_count")).not.toBe(before);
    const apiModel = await api(url, "/observability/analytics", filtered.lastRequest);
    expect(filtered.lastAnswer).toEqual(apiModel);
    expect(total(apiModel)).toBeGreaterThan(0);
    expect(total(apiModel)).toBeLessThan(total(apiAll));
    await page.screenshot({ path: path.join(ARTIFACTS, "04-filtered.png"), fullPage: true });

    // The CSV button downloads the answer on screen: the API's export of the same request.
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-csv")]);
    expect(download.suggestedFilename()).toBe("budmetrics-analytics.csv");
    const downloaded = fs.readFileSync((await download.path())!, "utf8");
    const exported = await fetch(`${url}/observability/analytics?format=csv`, {
      method: "POST",
      headers: { "content-type": "application/json", "dapr-api-token": TOKEN },
      body: JSON.stringify(filtered.lastRequest),
    });
    expect(downloaded).toBe(await exported.text());
    expect(downloaded.trimEnd().split("\r\n")).toHaveLength(1 + apiModel.items.length);

    // 5. The URL holds the view: someone else opening the link (with the token) gets the same request.
    const other = await browser!.newContext();
    const shared = await other.newPage();
    await shared.addInitScript(setToken, TOKEN);
    await shared.goto(page.url());
    await rendersAfter(shared, 0);
    const reopened = await probe(shared);
    expect({ ...reopened.lastRequest, time_range: null }).toEqual({
      ...filtered.lastRequest,
      time_range: null,
    });
    await other.close();

    // 6. Inference list (the model filter applies) and the detail drawer.
    await page.click('#views button[data-view="inferences"]');
    await page.waitForSelector("#inferences tbody tr");
    const models = await page.$$eval("#inferences tbody tr td:nth-child(2)", (tds) => [
      ...new Set(tds.map((t) => t.textContent)),
    ]);
    expect(models).toEqual([model]);
    const id = await page.getAttribute("#inferences tbody tr", "data-id");
    await page.click("#inferences tbody tr");
    await page.waitForSelector("#drawer-body dl");
    expect(await page.textContent("#drawer-body h3")).toBe(id);
    await page.screenshot({ path: path.join(ARTIFACTS, "05-inference-drawer.png") });
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it("shows how the answer was made (?explain=1) when the 'How this was computed' panel is opened", async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 1000 } });
    await page.addInitScript(setToken, TOKEN);
    const asked: string[] = [];
    page.on("request", (r) => {
      if (r.url().includes("/observability/analytics")) asked.push(new URL(r.url()).search);
    });
    await page.goto(`${url}/ui?metrics=request_count&range=6h&interval=hourly`);
    await rendersAfter(page, 0);
    // The chart's own answer is a plain request (cacheable); meta is asked only for the open panel.
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.filter((q) => q !== "")).toEqual([]);
    await page.click("#meta summary");
    await page.waitForSelector("#meta-view");
    expect(asked.filter((q) => q !== "")).toEqual(["?explain=1"]);
    const text = (await page.textContent("#meta-view"))!;
    expect(text).toContain("tier");
    expect(text).toContain("timings_ms");
    expect(await page.$$eval("#meta-view table tbody tr", (rs) => rs.length)).toBeGreaterThanOrEqual(1);
    await page.screenshot({ path: path.join(ARTIFACTS, "06-meta.png"), fullPage: true });
    await page.close();
  }, 60_000);

  it("measures the bundle and the time to first chart", async () => {
    const jsGzip = await wireBytes(`${url}/ui/app.js`, "gzip");
    const jsBrotli = await wireBytes(`${url}/ui/app.js`, "br");
    const cssGzip = await wireBytes(`${url}/ui/app.css`, "gzip");
    expect(jsGzip).toBeGreaterThan(0);
    expect(jsGzip).toBeLessThan(60_000);
    expect(jsBrotli).toBeGreaterThan(0);
    const runs: Array<{ firstChartMs: number; cached: boolean }> = [];
    for (let i = 0; i < 4; i++) {
      const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      await page.addInitScript(setToken, TOKEN);
      // A range no earlier run asked (so the first run's answer is computed) and the default metrics.
      await page.goto(`${url}/ui?range=7d&interval=hourly&tz=UTC`);
      await rendersAfter(page, 0);
      const p = await probe(page);
      runs.push({ firstChartMs: p.firstChartMs!, cached: i > 0 });
      await context.close();
    }
    const report = {
      jsGzipBytes: jsGzip,
      jsBrotliBytes: jsBrotli,
      cssGzipBytes: cssGzip,
      runs,
      at: new Date().toISOString(),
    };
    fs.writeFileSync(path.join(ARTIFACTS, "timings.json"), `${JSON.stringify(report, null, 2)}\n`);
    console.log(
      `explorer: app.js ${jsGzip} B gzip / ${jsBrotli} B brotli, app.css ${cssGzip} B gzip; first chart ${runs.map((r) => r.firstChartMs).join(" / ")} ms`,
    );
    for (const r of runs) expect(r.firstChartMs).toBeLessThan(10_000);
  }, 120_000);
});
