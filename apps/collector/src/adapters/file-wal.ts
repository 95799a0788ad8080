import fs from "node:fs/promises";
import path from "node:path";
import type { EventKind } from "../ingest/kinds";
import type { WriteAheadLog } from "../ingest/ports";

/**
 * The write-ahead log in a folder: one file per batch being written (`<kind>.<token>.jsonl`, the
 * payload as it is inserted), written before the insert and removed after its commit. No fsync: a
 * process crash keeps the page cache, and the engine's own parts are not fsynced either
 * (fsync_after_insert is off), so the log is exactly as durable as what it protects.
 */
export function createFileWriteAheadLog(dir: string): WriteAheadLog {
  const NAME = /^([a-z]+)\.([0-9a-f-]{36})\.jsonl$/;
  let made: Promise<unknown> | undefined;
  const ready = () => (made ??= fs.mkdir(dir, { recursive: true }));
  return {
    async append({ token, kind, payload }) {
      await ready();
      const file = path.join(dir, `${kind}.${token}.jsonl`);
      // Written under a temporary name and renamed: a crash never leaves a half-written entry.
      await fs.writeFile(`${file}.tmp`, payload);
      await fs.rename(`${file}.tmp`, file);
    },
    async remove(token) {
      const files = await fs.readdir(dir).catch(() => [] as string[]);
      await Promise.all(
        files
          .filter((f) => f.includes(`.${token}.jsonl`))
          .map((f) => fs.rm(path.join(dir, f), { force: true })),
      );
    },
    async pending() {
      const files = await fs.readdir(dir).catch(() => [] as string[]);
      const out: Array<{ token: string; kind: EventKind; payload: Buffer }> = [];
      for (const f of files.sort()) {
        const m = NAME.exec(f);
        if (!m) continue;
        out.push({ kind: m[1] as EventKind, token: m[2]!, payload: await fs.readFile(path.join(dir, f)) });
      }
      return out;
    },
  };
}
