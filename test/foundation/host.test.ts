import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { createHost, createRegistry, jsonBody, rawBodyOf, route, type MountedApp } from "@budmetrics/http";
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
  const server = http.createServer(host).listen(0, "127.0.0.1");
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
        error: { code: "ROUTE_NOT_FOUND", kind: "not_found", message: "no route for GET /nope" },
      });
      const ready = await fetch(`${s.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ ready: false, apps: { a: true, b: false } });
    } finally {
      s.close();
    }
  });

  describe("fast paths", () => {
    /**
     * An app whose fast path answers POST /echo bodies holding "fast": true and GET /fast, and throws on
     * "boom"; the router echoes what jsonBody parsed (from a pre-read body or the stream).
     */
    function fastApp(calls: { fast: number }): MountedApp {
      const router = express.Router();
      router.post(
        "/echo",
        jsonBody({ limit: 1024, type: ["application/json"] }),
        route(async (req, res) => {
          res.json({
            via: "router",
            body: req.body as unknown,
            raw: rawBodyOf(req)?.toString("utf8") ?? null,
          });
        }),
      );
      router.post("/stream", (req, res) => {
        let n = 0;
        req.on("data", (c: Buffer) => (n += c.length));
        req.on("end", () => res.json({ via: "router", bytes: n }));
      });
      router.get("/fast", (_req, res) => void res.json({ via: "router" }));
      return {
        ...fakeApp("f"),
        router,
        fastPath: {
          postPaths: new Set(["/echo"]),
          maxBodyBytes: 64,
          handle(req, res, body) {
            const text = body?.toString("utf8") ?? "";
            if (text.includes("boom")) throw new Error("boom");
            if (req.method === "GET" ? req.url !== "/fast" : !text.includes('"fast":true')) return false;
            calls.fast++;
            res.setHeader("content-type", "application/json");
            res.end(JSON.stringify({ via: "fast", body: text }));
            return true;
          },
        },
      };
    }
    const post = (url: string, body: string, headers: Record<string, string> = {}) =>
      fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

    it("answers ahead of the router, only after the app-token check", async () => {
      const calls = { fast: 0 };
      const s = await serve([fastApp(calls)], "t0ken");
      const auth = { "dapr-api-token": "t0ken" };
      try {
        expect((await post(`${s.url}/echo`, '{"fast":true}')).status).toBe(401);
        expect((await fetch(`${s.url}/fast`)).status).toBe(401);
        expect(calls.fast).toBe(0);
        expect(await (await post(`${s.url}/echo`, '{"fast":true}', auth)).json()).toEqual({
          via: "fast",
          body: '{"fast":true}',
        });
        expect(await (await fetch(`${s.url}/fast`, { headers: auth })).json()).toEqual({
          via: "fast",
          body: "",
        });
        expect(calls.fast).toBe(2);
      } finally {
        s.close();
      }
    });

    it("hands a declined, pre-read body to the router with express.json's own semantics", async () => {
      const s = await serve([fastApp({ fast: 0 })], null);
      try {
        // Declined after the host read it: the router parses the same bytes.
        const declined = await post(`${s.url}/echo`, '{"fast":false,"n":[1,2]}');
        expect(await declined.json()).toEqual({
          via: "router",
          body: { fast: false, n: [1, 2] },
          raw: '{"fast":false,"n":[1,2]}',
        });
        // The fast path threw before writing: the router answers.
        expect(await (await post(`${s.url}/echo`, '{"boom":1}')).json()).toMatchObject({ via: "router" });
        // Parse errors and charsets exactly as express.json reports them.
        const malformed = await post(`${s.url}/echo`, '{"fast": [');
        expect(malformed.status).toBe(400);
        expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe(
          "REQUEST_MALFORMED_JSON",
        );
        const latin1 = await post(`${s.url}/echo`, "{}", {
          "content-type": "application/json; charset=latin1",
        });
        expect(latin1.status).toBe(415);
        // Above the fast path's limit: never read up front; the router's limit (1 KiB) still applies.
        const long = JSON.stringify({ fast: true, pad: "x".repeat(100) });
        expect(await (await post(`${s.url}/echo`, long)).json()).toMatchObject({ via: "router" });
        expect((await post(`${s.url}/echo`, JSON.stringify({ pad: "x".repeat(2000) }))).status).toBe(413);
        // Paths the fast path did not claim keep their stream.
        expect(await (await post(`${s.url}/stream`, '{"fast":true}')).json()).toEqual({
          via: "router",
          bytes: 13,
        });
      } finally {
        s.close();
      }
    });
  });
});
