/**
 * The explorer page (/ui): an HTML shell, one script and one stylesheet built from apps/query/ui by
 * esbuild. The image ships them prebuilt (scripts/build.mjs writes dist/ui next to dist/query.js); run
 * from source (`pnpm start`), they are built in memory on the first request, once, in ~0.1 s, so a
 * fresh clone needs no build step and start-up does not wait for one.
 *
 * These files carry no data and no configuration, so the host serves them ahead of the app-token
 * check (MountedApp.publicRouter); every call the page makes goes through the guarded API.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import express, { type Router } from "express";
import type { Logger } from "@budmetrics/logger";
import bundleSpec from "../../ui/bundle.json";

export interface UiFiles {
  js: Buffer;
  css: Buffer;
}

/** Where the page's files come from: a prebuilt folder or an in-memory build. */
export type UiSource = () => Promise<UiFiles>;

export const UI_BUNDLE = bundleSpec;

/** The folder dist/ui beside a bundled entry point; null when running from source. */
export function prebuiltUi(dir: string): UiSource | null {
  const js = path.join(dir, bundleSpec.outputs.js);
  const css = path.join(dir, bundleSpec.outputs.css);
  if (!fs.existsSync(js) || !fs.existsSync(css)) return null;
  return async () => ({ js: fs.readFileSync(js), css: fs.readFileSync(css) });
}

/** Builds apps/query/ui with the same options as scripts/build.mjs (ui/bundle.json), in memory. */
export function esbuildUi(uiDir: string): UiSource {
  return async () => {
    // Loaded only here: the image's bundle never takes this path and does not contain esbuild.
    const { build } = (await import("esbuild")) as typeof import("esbuild");
    const out = await build({
      entryPoints: { app: path.join(uiDir, bundleSpec.entry) },
      bundle: true,
      minify: bundleSpec.minify,
      target: bundleSpec.target,
      format: "iife",
      write: false,
      outdir: "/ui-out",
      logLevel: "silent",
    });
    const pick = (ext: string) => {
      const f = out.outputFiles.find((o) => o.path.endsWith(ext));
      if (!f) throw new Error(`esbuild produced no ${ext} file`);
      return Buffer.from(f.contents);
    };
    return { js: pick(".js"), css: pick(".css") };
  };
}

/** Prebuilt next to the running bundle (image), else built from source on first use. */
export function defaultUiSource(): UiSource {
  return prebuiltUi(path.join(__dirname, "ui")) ?? esbuildUi(path.resolve(__dirname, "../../ui"));
}

const shell = (jsHash: string, cssHash: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>BudMetrics explorer</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/ui/app.css?v=${cssHash}"></head>
<body><div id="app">Loading…</div><script src="/ui/app.js?v=${jsHash}"></script></body></html>`;

/**
 * A static file in each encoding, compressed once at the highest levels (it never changes). gzip takes
 * ~3 ms and is ready at once; brotli 11 takes ~150 ms, so it is made off the event loop and served from
 * when it is ready (10 % smaller than gzip for the script).
 */
interface Encoded {
  identity: Buffer;
  gzip: Buffer;
  br: Buffer | null;
}

function encodeOnce(b: Buffer): Encoded {
  const e: Encoded = { identity: b, gzip: zlib.gzipSync(b, { level: 9 }), br: null };
  zlib.brotliCompress(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }, (err, out) => {
    if (!err) e.br = out;
  });
  return e;
}

interface Served {
  html: Encoded;
  js: Encoded;
  css: Encoded;
}

/** br (once made), else gzip, else none, as the client's Accept-Encoding allows (q=0 means refused). */
function pickEncoding(accept: string | undefined, file: Encoded): "br" | "gzip" | null {
  const offered = new Set(
    (accept ?? "")
      .split(",")
      .map((t) => t.trim().toLowerCase())
      .filter((t) => !/;\s*q=0(\.0*)?$/.test(t))
      .map((t) => t.split(";")[0]!),
  );
  if (offered.has("br") && file.br) return "br";
  return offered.has("gzip") ? "gzip" : null;
}

/** GET /ui (the shell, never cached), /ui/app.js and /ui/app.css (immutable, named by content hash). */
export function uiRouter(source: UiSource, log: Logger): Router {
  const router = express.Router();
  let ready: Promise<Served> | null = null;
  const load = (): Promise<Served> => {
    ready ??= (async () => {
      const started = performance.now();
      const f = await source();
      const hash = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex").slice(0, 12);
      const served = {
        html: encodeOnce(Buffer.from(shell(hash(f.js), hash(f.css)))),
        js: encodeOnce(f.js),
        css: encodeOnce(f.css),
      };
      log.info(
        {
          jsBytes: f.js.length,
          jsGzipBytes: served.js.gzip.length,
          cssBytes: f.css.length,
          ms: Math.round(performance.now() - started),
        },
        "explorer bundle ready",
      );
      return served;
    })().catch((err: unknown) => {
      ready = null;
      throw err;
    });
    return ready;
  };
  const send =
    (pick: (s: Served) => Encoded, type: string, immutable: boolean) =>
    (req: express.Request, res: express.Response, next: express.NextFunction) => {
      load().then(
        (s) => {
          const file = pick(s);
          const encoding = pickEncoding(req.headers["accept-encoding"], file);
          res.setHeader("Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
          res.setHeader("Vary", "Accept-Encoding");
          if (encoding) res.setHeader("Content-Encoding", encoding);
          res.type(type).send(encoding === "br" ? file.br : encoding === "gzip" ? file.gzip : file.identity);
        },
        (err: unknown) => next(err),
      );
    };
  router.get(
    "/ui",
    send((s) => s.html, "text/html", false),
  );
  router.get(
    "/ui/app.js",
    send((s) => s.js, "application/javascript", true),
  );
  router.get(
    "/ui/app.css",
    send((s) => s.css, "text/css", true),
  );
  return router;
}
