import { ConfigError, defineSchema, loadConfig } from "@budmetrics/config";
import {
  classifyClickHouseError,
  DeadlineExceeded,
  insertOutcome,
  withQuerySettings,
} from "@budmetrics/clickhouse";
import { createMemoryClaimStore } from "@budmetrics/collector";
import { createLifecycle } from "@budmetrics/lifecycle";
import { createSilentLogger } from "@budmetrics/logger";

describe("config", () => {
  const schema = defineSchema({
    PORT: { type: "int", min: 1, max: 65535, default: 9085, doc: "port" },
    MODE: { type: "enum", values: ["a", "b"], default: "a", doc: "mode" },
    URL: { type: "url", protocols: ["redis"], default: null, doc: "url" },
    NEEDED: { type: "string", doc: "required" },
    FLAG: { type: "bool", default: false, doc: "flag" },
  });

  it("reports every problem at once", () => {
    const err = (() => {
      try {
        loadConfig(schema, { PORT: "70000", MODE: "c", URL: "http://x", FLAG: "maybe" });
      } catch (e) {
        return e;
      }
    })() as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.problems).toEqual([
      "PORT must be ≤ 65535, got 70000",
      'MODE must be one of a, b, got "c"',
      'URL must use redis, got "http:"',
      "NEEDED is required (required)",
      'FLAG must be true or false, got "maybe"',
    ]);
  });

  it("applies defaults and parses types; optional values are null", () => {
    expect(loadConfig(schema, { NEEDED: "x", FLAG: "yes" })).toEqual({
      PORT: 9085,
      MODE: "a",
      URL: null,
      NEEDED: "x",
      FLAG: true,
    });
  });

  it("rejects non-integers instead of truncating them", () => {
    expect(() => loadConfig(schema, { NEEDED: "x", PORT: "80.5" })).toThrow(
      'PORT must be an integer, got "80.5"',
    );
  });
});

describe("lifecycle", () => {
  it("runs steps once, in order, each within its own budget, and reports the one that overran", async () => {
    const order: string[] = [];
    const lc = createLifecycle({ log: createSilentLogger(), deadlineMs: 2_000 });
    lc.onShutdown("stop", () => void order.push("stop"), 100);
    lc.onShutdown("hang", () => new Promise<void>(() => order.push("hang")), 50);
    lc.onShutdown("close", async () => void order.push("close"), 100);
    const [a, b] = await Promise.all([lc.shutdown("test"), lc.shutdown("again")]);
    expect(a).toBe(b);
    expect(order).toEqual(["stop", "hang", "close"]);
    expect(a.ok).toBe(false);
    expect(a.steps.map((s) => [s.name, s.ok])).toEqual([
      ["stop", true],
      ["hang", false],
      ["close", true],
    ]);
    expect(lc.shuttingDown).toBe(true);
  });

  it("never exceeds the overall deadline", async () => {
    const lc = createLifecycle({ log: createSilentLogger(), deadlineMs: 120 });
    lc.onShutdown("slow-1", () => new Promise<void>(() => undefined), 100);
    lc.onShutdown("slow-2", () => new Promise<void>(() => undefined), 100);
    const t0 = Date.now();
    await lc.shutdown("test");
    expect(Date.now() - t0).toBeLessThan(400);
  });
});

describe("ClickHouse error classification (by type and socket code, never by message)", () => {
  it.each([
    [{ type: "TOO_MANY_SIMULTANEOUS_QUERIES", message: "x" }, "unavailable", true],
    [{ type: "TOO_MANY_PARTS" }, "unavailable", true],
    [{ type: "TIMEOUT_EXCEEDED" }, "limit", false],
    [{ type: "TOO_MANY_ROWS" }, "limit", false],
    [{ type: "MEMORY_LIMIT_EXCEEDED" }, "limit", false],
    [{ type: "SYNTAX_ERROR" }, "rejected", false],
    [{ type: "UNKNOWN_TABLE" }, "rejected", false],
    [Object.assign(new Error("connect"), { code: "ECONNREFUSED" }), "unavailable", true],
    [
      Object.assign(new Error("wrapped"), { cause: Object.assign(new Error("r"), { code: "ECONNRESET" }) }),
      "unavailable",
      true,
    ],
    [new Error("TOO_MANY_ROWS appears only in the message"), "unavailable", true],
  ])("%j → %s (retryable %s)", (err, kind, retryable) => {
    const c = classifyClickHouseError(err);
    expect([c.kind, c.retryable]).toEqual([kind, retryable]);
  });
});

describe("insertOutcome: may a failed insert have committed?", () => {
  const wrapped = (cause: unknown) => Object.assign(new Error("insert into t: failed"), { cause });
  it.each([
    ["an engine error (server)", wrapped({ type: "TYPE_MISMATCH" }), "server", "failed"],
    ["connection refused (server)", wrapped({ code: "ECONNREFUSED" }), "server", "failed"],
    ["connection reset mid-request (server)", wrapped({ code: "ECONNRESET" }), "server", "unknown"],
    ["our deadline, server", wrapped(new DeadlineExceeded(10)), "server", "unknown"],
    ["anything else (server)", new Error("?"), "server", "unknown"],
    ["an in-process error (embedded)", new Error("chdb: bad row"), "embedded", "failed"],
  ] as const)("%s → %s", (_what, err, mode, expected) => {
    expect(insertOutcome(err, mode)).toBe(expected);
  });
  it("an embedded call past its deadline reports how it ended", async () => {
    const settled = Promise.resolve("succeeded" as const);
    expect(insertOutcome(wrapped(new DeadlineExceeded(10, settled)), "embedded")).toBe(settled);
  });
});

describe("memory claim store", () => {
  it("a pending claim blocks others until it expires; a committed key is a duplicate", async () => {
    const store = createMemoryClaimStore({ maxCommitted: 10, pendingTtlMs: 50 });
    expect([...(await store.claim(["a", "b"])).values()]).toEqual(["claimed", "claimed"]);
    expect([...(await store.claim(["a"])).values()]).toEqual(["pending_elsewhere"]);
    await store.confirm(["b"]);
    expect([...(await store.claim(["b"])).values()]).toEqual(["committed"]);
    await new Promise((r) => setTimeout(r, 80));
    expect([...(await store.claim(["a"])).values()]).toEqual(["claimed"]);
  });
});

describe("withQuerySettings", () => {
  it("appends a statement-level SETTINGS clause with quoted strings", () => {
    expect(withQuerySettings("SELECT 1", { max_execution_time: 5, read_overflow_mode: "throw" })).toBe(
      "SELECT 1\nSETTINGS max_execution_time = 5, read_overflow_mode = 'throw'",
    );
  });
  it("refuses a setting name that is not an identifier", () => {
    expect(() => withQuerySettings("SELECT 1", { "x = 1; DROP": 1 })).toThrow(/invalid setting name/);
  });
});
