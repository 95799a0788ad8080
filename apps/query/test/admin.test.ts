/**
 * /admin/* on the real engine: the guard (ADMIN_API_TOKEN, loopback without it, off in split mode),
 * one optimize at a time, and health answering while an optimize runs.
 */
import http from "node:http";
import os from "node:os";
import type { AddressInfo } from "node:net";
import { loadConfig } from "@budmetrics/config";
import { createHost, createRegistry, type AdminWithoutToken, type MountedApp } from "@budmetrics/http";
import { createSilentLogger } from "@budmetrics/logger";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences } from "../../../test/support/generate";
import { createQueryApp } from "../src/app";
import { queryConfigSchema } from "../src/config";
import { loadInferences } from "./helpers";

let engine: TestEngine;
let app: MountedApp;
const servers: http.Server[] = [];

beforeAll(async () => {
  engine = await openTestEngine("query_admin");
  const cat = createCatalogue(5, { models: 2, projects: 3, endpoints: 4, apiKeys: 3, users: 10 });
  // Twelve months: twelve partitions per monthly table, so an optimize has many steps.
  await loadInferences(engine.ch, [
    ...generateInferences({
      seed: 3,
      count: 24_000,
      startMs: Date.parse("2025-01-01T00:00:00Z"),
      endMs: Date.parse("2026-01-01T00:00:00Z"),
      catalogue: cat,
    }),
  ]);
  const log = createSilentLogger();
  app = await createQueryApp({
    ch: engine.ch,
    log,
    config: loadConfig(queryConfigSchema, {}),
    registry: createRegistry(false),
  });
}, 120_000);

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await app?.close();
  await engine?.close();
});

async function serve(opts: {
  adminApiToken?: string | null;
  appApiToken?: string | null;
  adminWithoutToken?: AdminWithoutToken;
  host?: string;
}): Promise<number> {
  const server = http.createServer(
    createHost({
      apps: [app],
      log: createSilentLogger(),
      registry: createRegistry(false),
      adminApiToken: opts.adminApiToken ?? null,
      appApiToken: opts.appApiToken ?? null,
      ...(opts.adminWithoutToken ? { adminWithoutToken: opts.adminWithoutToken } : {}),
    }),
  );
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, opts.host ?? "127.0.0.1", () => r()));
  return (server.address() as AddressInfo).port;
}

async function call(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<{
  status: number;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
}> {
  const res = await fetch(url, {
    method: init.method ?? "GET",
    headers: { "content-type": "application/json", ...(init.headers ?? {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as never };
}

/** An address of this machine that is not loopback, if it has one. */
function externalAddress(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return undefined;
}

describe("admin guard", () => {
  it("is off without ADMIN_API_TOKEN by default (split mode): 403 ADMIN_DISABLED, other routes unaffected", async () => {
    const port = await serve({});
    for (const path of ["/admin/stats", "/admin/metrics/cache"]) {
      const r = await call(`http://127.0.0.1:${port}${path}`);
      expect(r.status).toBe(403);
      expect(r.body.error?.code).toBe("ADMIN_DISABLED");
    }
    const opt = await call(`http://127.0.0.1:${port}/admin/optimize`, { method: "POST", body: {} });
    expect([opt.status, opt.body.error?.code]).toEqual([403, "ADMIN_DISABLED"]);
    expect((await call(`http://127.0.0.1:${port}/observability/health`)).status).toBe(200);
  });

  it("answers loopback only without a token in the all-in-one mode", async () => {
    const port = await serve({ adminWithoutToken: "loopback", host: "0.0.0.0" });
    expect((await call(`http://127.0.0.1:${port}/admin/stats`)).status).toBe(200);
    const external = externalAddress();
    if (external === undefined) return; // no other interface on this machine
    const r = await call(`http://${external}:${port}/admin/stats`);
    expect([r.status, r.body.error?.code]).toEqual([403, "ADMIN_DISABLED"]);
    expect((await call(`http://${external}:${port}/observability/health`)).status).toBe(200);
  });

  it("with ADMIN_API_TOKEN, needs Authorization: Bearer <token> from anywhere, loopback included", async () => {
    const port = await serve({ adminApiToken: "admin-secret", adminWithoutToken: "loopback" });
    const url = `http://127.0.0.1:${port}/admin/stats`;
    const none = await call(url);
    expect([none.status, none.body.error?.code]).toEqual([401, "ADMIN_TOKEN_INVALID"]);
    const wrong = await call(url, { headers: { authorization: "Bearer admin-secreT" } });
    expect(wrong.status).toBe(401);
    const longer = await call(url, { headers: { authorization: "Bearer admin-secret-and-more" } });
    expect(longer.status).toBe(401);
    // The Dapr token is not the admin token.
    const dapr = await call(url, { headers: { "dapr-api-token": "admin-secret" } });
    expect(dapr.status).toBe(401);
    const ok = await call(url, { headers: { authorization: "Bearer admin-secret" } });
    expect(ok.status).toBe(200);
    expect(ok.body.object).toBe("database_stats");
  });

  it("with both tokens set, an admin request needs both", async () => {
    const port = await serve({ adminApiToken: "admin-secret", appApiToken: "dapr-secret" });
    const url = `http://127.0.0.1:${port}/admin/metrics/cache`;
    expect((await call(url, { headers: { authorization: "Bearer admin-secret" } })).status).toBe(401);
    expect((await call(url, { headers: { "dapr-api-token": "dapr-secret" } })).body.error?.code).toBe(
      "ADMIN_TOKEN_INVALID",
    );
    const ok = await call(url, {
      headers: { authorization: "Bearer admin-secret", "dapr-api-token": "dapr-secret" },
    });
    expect(ok.status).toBe(200);
  });
});

describe("POST /admin/optimize", () => {
  it("runs one at a time: a second concurrent request is 409 ADMIN_OPTIMIZE_RUNNING, the next one runs", async () => {
    const port = await serve({ adminWithoutToken: "loopback" });
    const url = `http://127.0.0.1:${port}/admin/optimize`;
    const [a, b] = await Promise.all([
      call(url, { method: "POST", body: { final: true } }),
      call(url, { method: "POST", body: { final: true } }),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 409]);
    const refused = a.status === 409 ? a : b;
    expect(refused.body.error?.code).toBe("ADMIN_OPTIMIZE_RUNNING");
    const done = a.status === 200 ? a : b;
    const raw = (done.body.tables as Array<{ table: string; partitions: number }>).find(
      (t) => t.table === "inference_events",
    );
    expect(raw?.partitions).toBe(12);
    const again = await call(url, { method: "POST", body: { tables: ["inference_events"] } });
    expect(again.status).toBe(200);
  }, 120_000);

  it("leaves health answering while it runs (one partition at a time)", async () => {
    const port = await serve({ adminWithoutToken: "loopback" });
    const base = `http://127.0.0.1:${port}`;
    let running = true;
    const optimize = call(`${base}/admin/optimize`, { method: "POST", body: { final: true } }).finally(() => {
      running = false;
    });
    const probes: Array<{ status: number; ms: number }> = [];
    while (running) {
      const t0 = performance.now();
      const r = await fetch(`${base}/health`);
      await r.arrayBuffer();
      if (running) probes.push({ status: r.status, ms: performance.now() - t0 });
      await new Promise((r) => setTimeout(r, 20));
    }
    const result = await optimize;
    expect(result.status).toBe(200);
    // Answered while the optimize ran, every one 200 (the engine ping within its 2 s budget).
    expect(probes.length).toBeGreaterThanOrEqual(3);
    expect(probes.filter((p) => p.status !== 200)).toEqual([]);
    const slowest = Math.max(...probes.map((p) => p.ms));
    expect(slowest).toBeLessThan(Number(result.body.duration_ms));
    process.stdout.write(
      `optimize FINAL ${String(result.body.duration_ms)} ms; ${probes.length} health probes during it, slowest ${Math.round(slowest)} ms\n`,
    );
  }, 120_000);
});
