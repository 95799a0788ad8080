/** The sidecar model's own parts: Go durations, subscription routing (CEL subset), Go channels. */
import {
  CLOSED,
  compileMatch,
  createChannel,
  createRouter,
  parseGoDurationMs,
} from "../support/dapr-sidecar";

describe("sidecar model parts", () => {
  it.each([
    ["15s", 15_000],
    ["500ms", 500],
    ["1m30s", 90_000],
    ["2h", 7_200_000],
    ["0", 0],
  ])("reads the Go duration %s", (text, ms) => {
    expect(parseGoDurationMs(text)).toBe(ms);
  });

  it("refuses what is not a Go duration", () => {
    expect(() => parseGoDurationMs("15")).toThrow(/Go duration/);
    expect(() => parseGoDurationMs("1x")).toThrow(/Go duration/);
  });

  it("routes by the first matching rule, then the default; refuses CEL it does not model", () => {
    const route = createRouter({
      rules: [
        { match: 'event.type == "add_observability_metrics"', path: "/inference" },
        { match: 'event.type == "a" || event.source == "b"', path: "/ab" },
      ],
      default: "/rest",
    });
    expect(route({ type: "add_observability_metrics" })).toBe("/inference");
    expect(route({ type: "x", source: "b" })).toBe("/ab");
    expect(route({ type: "x" })).toBe("/rest");
    expect(
      createRouter({ rules: [{ match: 'event.type == "a"', path: "/a" }] })({ type: "z" }),
    ).toBeUndefined();
    expect(compileMatch('event.type != "a" && event.source == "s"')({ type: "b", source: "s" })).toBe(true);
    expect(() => compileMatch("event.data.x > 3")).toThrow(/not supported/);
  });

  it("is a Go channel: send waits while full, recv while empty, close wakes receivers", async () => {
    const ch = createChannel<number>(2);
    await ch.send(1);
    await ch.send(2);
    let third = false;
    const p = ch.send(3).then(() => (third = true));
    await Promise.resolve();
    expect(third).toBe(false); // full
    expect(ch.tryRecv()).toBe(1);
    await p;
    expect(third).toBe(true);
    expect([await ch.recv(), await ch.recv()]).toEqual([2, 3]);
    const waiting = ch.recv();
    ch.close();
    expect(await waiting).toBe(CLOSED);
  });
});
