/**
 * The server image. What runs everywhere: the Dockerfile's rules (pinned base, production bundles
 * only, non-root, HEALTHCHECK), and the image's own layout rebuilt in a temporary folder — the esbuild
 * bundles and migrations/ with no node_modules anywhere above them — started the way the chart starts
 * them: migrations render, both apps answer their health path without a token and refuse app routes
 * without it, the Dockerfile's HEALTHCHECK command passes and fails, SIGTERM exits 0.
 * What needs a Docker engine (skipped here with the reason printed): `docker build` and the built
 * image's user, health check and contents.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { dockerEngine, repoFile, ROOT, skipNotice } from "./tools";

const dockerfile = repoFile("Dockerfile");
/** Instructions with continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, " ")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));
const stages: string[][] = [];
for (const line of instructions) {
  if (/^FROM\s/i.test(line)) stages.push([]);
  stages.at(-1)?.push(line);
}
const runtime = stages.at(-1) ?? [];
const healthcheck = (() => {
  const line = runtime.find((l) => l.startsWith("HEALTHCHECK"));
  const m = line ? /\bCMD\s+(\[.*\])\s*$/.exec(line) : null;
  return m ? (JSON.parse(m[1]!) as string[]) : null;
})();

describe("Dockerfile", () => {
  it("is multi-stage with a base pinned to an exact Node.js release", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const arg = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1];
    expect(arg).toMatch(/^node:\d+\.\d+\.\d+-[a-z]+(-slim)?(@sha256:[0-9a-f]{64})?$/);
    // The release CI tests on: the same major as this machine's Node.js.
    expect(arg!.split(":")[1]!.split(".")[0]).toBe(process.versions.node.split(".")[0]);
    for (const s of stages) expect(s[0]).toMatch(/^FROM \$\{NODE_IMAGE\}( AS \w+)?$/);
  });

  it("installs from the lockfile without optional dependencies (no chdb) and builds the bundles", () => {
    const install = instructions.find((l) => l.includes("pnpm install"));
    expect(install).toMatch(/pnpm install --frozen-lockfile --no-optional && pnpm build/);
  });

  it("ships only the three bundles, the IP location data, the explorer page and migrations/ in the runtime stage, as a numeric non-root user", () => {
    const copies = runtime.filter((l) => l.startsWith("COPY"));
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) {
      expect(c).toMatch(/^COPY --from=build /);
      expect(c).not.toMatch(/node_modules|standalone/);
    }
    const copied = copies.flatMap((c) => c.split(/\s+/).slice(2, -1));
    expect(copied.sort()).toEqual(
      [
        "/src/dist/collector.js",
        "/src/dist/collector.js.map",
        "/src/dist/migrate.js",
        "/src/dist/migrate.js.map",
        "/src/dist/query.js",
        "/src/dist/query.js.map",
        "/src/dist/geoip",
        "/src/dist/ui",
        "/src/migrations",
      ].sort(),
    );
    const user = runtime.filter((l) => l.startsWith("USER")).at(-1);
    expect(user).toMatch(/^USER [1-9]\d*:[1-9]\d*$/);
    expect(runtime.some((l) => /^CMD \["node", "--enable-source-maps", "dist\/query\.js"\]$/.test(l))).toBe(
      true,
    );
  });

  it("has a HEALTHCHECK on the path the Dapr sidecar probes", () => {
    expect(healthcheck).not.toBeNull();
    expect(healthcheck!.join(" ")).toContain("/healthz");
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

function run(cmd: string[], cwd: string, env: Record<string, string>) {
  const r = spawnSync(cmd[0]!, cmd.slice(1), {
    cwd,
    env: { PATH: process.env.PATH ?? "", ...env },
    encoding: "utf8",
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe("the image's layout, without Docker: bundles and migrations, no node_modules", () => {
  const app = fs.mkdtempSync(path.join(os.tmpdir(), "bm-image-"));
  const children: ChildProcess[] = [];

  beforeAll(() => {
    const built = spawnSync(process.execPath, ["scripts/build.mjs", "--outdir", path.join(app, "dist")], {
      cwd: ROOT,
      encoding: "utf8",
    });
    if (built.status !== 0) throw new Error(`build failed: ${built.stdout}${built.stderr}`);
    fs.cpSync(path.join(ROOT, "migrations"), path.join(app, "migrations"), { recursive: true });
    // Nothing to resolve packages from: the bundles must be self-contained.
    for (let dir = app; dir !== path.dirname(dir); dir = path.dirname(dir)) {
      expect(fs.existsSync(path.join(dir, "node_modules"))).toBe(false);
    }
  }, 60_000);

  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    fs.rmSync(app, { recursive: true, force: true });
  });

  it("dist/migrate.js finds migrations/ beside dist/ and renders the cluster SQL", () => {
    const r = run(["node", "dist/migrate.js", "--dry-run"], app, {
      CLICKHOUSE_CLUSTER: "prod",
      CLICKHOUSE_DATABASE: "bm",
    });
    expect(r.code).toBe(0);
    expect(r.out).toContain("-- 0006_inference_model_rollups.sql");
    expect(r.out).toContain(
      "CREATE TABLE IF NOT EXISTS bm.inference_events ON CLUSTER 'prod' AS bm.inference_events_local " +
        "ENGINE = Distributed('prod', 'bm', 'inference_events_local', cityHash64(inference_id))",
    );
  });

  it("dist/geoip holds the IP location data the query bundle reads at run time", () => {
    expect(fs.readdirSync(path.join(app, "dist", "geoip")).sort()).toEqual([
      "geoip-city-names.dat",
      "geoip-city.dat",
      "geoip-city6.dat",
      "geoip-country.dat",
      "geoip-country6.dat",
    ]);
    // The query app's lookup module bundled the same way, beside dist/query.js: it must find dist/geoip
    // (no node_modules above the folder, so nothing else could answer).
    const probe = path.join(app, "dist", "geo-probe.js");
    const built = spawnSync(
      process.execPath,
      [
        "-e",
        `require("esbuild").buildSync({entryPoints:[${JSON.stringify(path.join(ROOT, "apps/query/src/compat/geo.ts"))}],bundle:true,platform:"node",format:"cjs",outfile:${JSON.stringify(probe)},logLevel:"error"})`,
      ],
      { cwd: ROOT, encoding: "utf8" },
    );
    expect(built.stderr).toBe("");
    const r = run(
      [
        "node",
        "-e",
        "process.stdout.write(JSON.stringify(require('./dist/geo-probe.js').geoLookup('81.2.69.142')))",
      ],
      app,
      {},
    );
    fs.rmSync(probe);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ country_code: "GB", city: "Newmarket" });
  });

  it("dist/migrate.js knows the pause flags the Helm hook passes", () => {
    const r = run(["node", "dist/migrate.js", "--help"], app, {});
    expect(r.code).toBe(0);
    expect(r.out).toContain("--pause-deployment");
  });

  for (const entry of ["collector", "query"] as const) {
    it(`dist/${entry}.js starts against an unreachable ClickHouse, answers health, guards its routes, exits 0 on SIGTERM`, async () => {
      const p = await freePort();
      const env = {
        PATH: process.env.PATH ?? "",
        HOST: "127.0.0.1",
        PORT: String(p),
        CLICKHOUSE_URL: "http://127.0.0.1:9", // discard port: refused
        APP_API_TOKEN: "image-test-token",
        LOG_LEVEL: "warn",
        SHUTDOWN_DEADLINE_MS: "3000",
        DRAIN_TIMEOUT_MS: "2000",
        COLLECTOR_DRAIN_TIMEOUT_MS: "1000",
      };
      const child = spawn(process.execPath, ["--enable-source-maps", `dist/${entry}.js`], { cwd: app, env });
      children.push(child);
      let log = "";
      child.stdout!.on("data", (d: Buffer) => (log += d.toString()));
      child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
      const base = `http://127.0.0.1:${p}`;
      const until = Date.now() + 15_000;
      for (;;) {
        const ok = await fetch(`${base}/healthz`).then(
          (r) => r.status === 200,
          () => false,
        );
        if (ok) break;
        if (Date.now() > until || child.exitCode !== null) throw new Error(`${entry} did not start: ${log}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const route = entry === "collector" ? "/observability/add" : "/observability/analytics";
      const denied = await fetch(`${base}${route}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect(denied.status).toBe(401);
      if (entry === "query") {
        // The explorer page: its shell and the prebuilt bundle from dist/ui (no esbuild here), no token needed.
        const page = await fetch(`${base}/ui`);
        expect(page.status).toBe(200);
        const js = await fetch(`${base}/ui/app.js`, { headers: { "accept-encoding": "identity" } });
        expect(js.status).toBe(200);
        expect(Buffer.from(await js.arrayBuffer())).toEqual(
          fs.readFileSync(path.join(app, "dist/ui/app.js")),
        );
      }

      // The Dockerfile's HEALTHCHECK command, as Docker runs it (exec form, the container's PORT).
      const hc = run(healthcheck!, app, { PORT: String(p) });
      expect(hc.code).toBe(0);

      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(run(healthcheck!, app, { PORT: String(p) }).code).toBe(1);
    }, 30_000);
  }
});

const docker = dockerEngine();
if (!docker.ok) {
  skipNotice(
    "test/deploy/image.test.ts (docker build)",
    docker.reason,
    "docker build of the image and checks of the built image run where a Docker engine exists.",
  );
}
(docker.ok ? describe : describe.skip)("docker build (needs a Docker engine)", () => {
  const tag = `budmetrics:test-${process.pid}`;
  afterAll(() => {
    spawnSync("docker", ["image", "rm", "-f", tag]);
  });

  it("builds, runs as a non-root user, has a health check and no chdb, and renders migrations", () => {
    const b = spawnSync("docker", ["build", "-t", tag, "."], { cwd: ROOT, encoding: "utf8" });
    expect(b.status).toBe(0);
    const inspect = spawnSync("docker", ["image", "inspect", tag, "--format", "{{json .Config}}"], {
      encoding: "utf8",
    });
    const config = JSON.parse(inspect.stdout) as { User: string; Healthcheck?: { Test: string[] } };
    expect(config.User).toBe("1000:1000");
    expect(config.Healthcheck?.Test.join(" ")).toContain("/healthz");
    const id = spawnSync("docker", ["run", "--rm", tag, "id", "-u"], { encoding: "utf8" });
    expect(id.stdout.trim()).toBe("1000");
    const chdb = spawnSync(
      "docker",
      ["run", "--rm", tag, "sh", "-c", "find / -name 'chdb*' -not -path '/proc/*' | head -1"],
      {
        encoding: "utf8",
      },
    );
    expect(chdb.stdout.trim()).toBe("");
    const dry = spawnSync(
      "docker",
      ["run", "--rm", "-e", "CLICKHOUSE_CLUSTER=prod", tag, "node", "dist/migrate.js", "--dry-run"],
      { encoding: "utf8" },
    );
    expect(dry.status).toBe(0);
    expect(dry.stdout).toContain("ENGINE = Distributed('prod'");
  }, 900_000);
});
