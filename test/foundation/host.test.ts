import type { AddressInfo } from "node:net";
import express from "express";
import { createHost, createRegistry, type MountedApp } from "@budmetrics/http";
import { createSilentLogger } from "@budmetrics/logger";

/** The host server every entry point uses: token guard, health, readiness, 404s. */
function fakeApp(name: string, ready = true): MountedApp {
  const router = express.Router();
  router.get(`/${name}/ping`, (_req, res) => void res.json({ app: name }));
  return {
    name,
    router,
    health: { [name]: async () => ({ status: "ok" }) },
    ready: async () => ready,
    stopAccepting: () => undefined,
    drain: async () => undefined,
    close: async () => undefined,
  };
}

async function serve(apps: MountedApp[], appApiToken: string | null) {
  const host = createHost({ apps, log: createSilentLogger(), registry: createRegistry(false), appApiToken });
  const server = host.listen(0, "127.0.0.1");
  await new Promise<void>((r) => server.once("listening", () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

describe("host", () => {
  it("guards every app route with APP_API_TOKEN and leaves health, readiness and metrics open", async () => {
    const s = await serve([fakeApp("collector"), fakeApp("query")], "t0ken");
    try {
      expect((await fetch(`${s.url}/query/ping`)).status).toBe(401);
      expect(
        (await fetch(`${s.url}/collector/ping`, { headers: { "dapr-api-token": "wrong" } })).status,
      ).toBe(401);
      const ok = await fetch(`${s.url}/query/ping`, { headers: { "dapr-api-token": "t0ken" } });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ app: "query" });
      for (const path of ["/health", "/healthz", "/readyz", "/metrics"]) {
        expect([path, (await fetch(`${s.url}${path}`)).status]).toEqual([path, 200]);
      }
    } finally {
      s.close();
    }
  });

  it("answers unknown routes with a JSON 404 and readiness 503 when an app is not ready", async () => {
    const s = await serve([fakeApp("a"), fakeApp("b", false)], null);
    try {
      const res = await fetch(`${s.url}/nope`);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({
        error: { code: "ROUTE_NOT_FOUND", message: "no route for GET /nope" },
      });
      const ready = await fetch(`${s.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ ready: false, apps: { a: true, b: false } });
    } finally {
      s.close();
    }
  });
});
