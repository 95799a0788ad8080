import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { createHost, createRegistry, jsonBody, withTurnBudget, type MountedApp } from "@budmetrics/http";
import { createSilentLogger } from "@budmetrics/logger";

/** The per-turn dispatch budget in front of every app (packages/http/src/turn-budget.ts). */
const log = createSilentLogger();
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

/** Plain request/response pairs: the budget only reads `destroyed` and `socket.destroyed`. */
function pair(id: number, destroyed = false) {
  const req = { id, url: `/${id}`, socket: { destroyed } } as unknown as IncomingMessage;
  const res = { destroyed } as unknown as ServerResponse;
  return [req, res] as const;
}

describe("withTurnBudget", () => {
  it("dispatches at most perTurn requests per event-loop turn, in arrival order", async () => {
    const seen: number[][] = [[]];
    const listener = withTurnBudget(
      (req) => seen[seen.length - 1]!.push((req as unknown as { id: number }).id),
      3,
      log,
    );
    for (let i = 0; i < 10; i++) listener(...pair(i));
    // This turn: the first three at once; the rest wait.
    expect(seen).toEqual([[0, 1, 2]]);
    for (let t = 0; t < 4; t++) {
      seen.push([]);
      await nextTurn();
    }
    // The first check phase is still this turn (its budget is spent); then three per turn.
    expect(seen.flat()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(seen.filter((s) => s.length > 0).map((s) => s.length)).toEqual([3, 3, 3, 1]);
    // Idle again: a new request is dispatched at once.
    await nextTurn();
    seen.push([]);
    listener(...pair(10));
    expect(seen[seen.length - 1]).toEqual([10]);
  });

  it("drops requests whose client went away while waiting, and survives a listener that throws", async () => {
    const seen: number[] = [];
    const listener = withTurnBudget(
      (req) => {
        const id = (req as unknown as { id: number }).id;
        if (id === 3) throw new Error("boom");
        seen.push(id);
      },
      1,
      log,
    );
    const destroyedRes: ServerResponse[] = [];
    for (let i = 0; i < 5; i++) {
      const [req, res] = pair(i, i === 2);
      if (i === 3) Object.assign(res, { destroy: () => destroyedRes.push(res) });
      listener(req, res);
    }
    for (let t = 0; t < 6; t++) await nextTurn();
    expect(seen).toEqual([0, 1, 4]);
    expect(destroyedRes).toHaveLength(1);
  });

  it("returns the listener itself when the budget is 0", () => {
    const l: http.RequestListener = () => undefined;
    expect(withTurnBudget(l, 0, log)).toBe(l);
  });

  it("answers every request of many concurrent connections through the host, bodies included", async () => {
    const router = express.Router();
    router.post("/echo", jsonBody({ limit: 65_536, type: ["application/json"] }), (req, res) => {
      res.json({ n: (req.body as { n: number }).n * 2 });
    });
    const app: MountedApp = {
      name: "echo",
      router,
      health: {},
      ready: async () => true,
      stopAccepting: () => undefined,
      drain: async () => undefined,
      close: async () => undefined,
    };
    const host = createHost({ apps: [app], log, registry: createRegistry(false), requestsPerTurn: 2 });
    const server = http.createServer(host).listen(0, "127.0.0.1");
    await new Promise<void>((r) => server.once("listening", () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/echo`;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 100 });
    const post = (n: number) =>
      new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ n, pad: "x".repeat(n % 7 === 0 ? 20_000 : 10) });
        const req = http.request(
          url,
          { method: "POST", agent, headers: { "content-type": "application/json" } },
          (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => (text += c));
            res.on("end", () => resolve((JSON.parse(text) as { n: number }).n));
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    try {
      const ns = Array.from({ length: 1000 }, (_, i) => i);
      expect(await Promise.all(ns.map(post))).toEqual(ns.map((n) => n * 2));
    } finally {
      agent.destroy();
      server.close();
    }
  });
});
