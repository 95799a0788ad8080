import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import express, { type Request, type RequestHandler } from "express";
import type { Logger } from "@budmetrics/logger";

/**
 * A handler the host consults before the framework: it answers what it can serve on its own (an
 * in-process cache hit) and returns true, or returns false and the router serves the request as usual.
 * `body` is the whole request body when the host read it up front (a POST to one of `postPaths`, JSON,
 * identity-encoded, with a Content-Length within `maxBodyBytes`), otherwise null. It must not write
 * before deciding, and the routes behind `postPaths` must parse their bodies with jsonBody().
 *
 * Why it exists: a cached answer costs ~30-40 µs on bare node:http and ~150 µs through express. Under a
 * thousand busy connections that difference decides how long each event-loop turn takes, and since
 * libuv 1.45 a listening socket accepts ONE connection per turn (libuv#3696): with turns of 100-200 ms,
 * new connections waited in the kernel queue for seconds (docs/QUERY.md, "Cached load").
 */
export interface FastPath {
  handle(req: IncomingMessage, res: ServerResponse, body: Buffer | null): boolean;
  /** Exact pathnames whose POST bodies the host may read up front for this fast path. */
  postPaths: ReadonlySet<string>;
  maxBodyBytes: number;
}

const PREREAD = Symbol("budmetrics.preread-body");
const RAW = Symbol("budmetrics.raw-body");

interface BodyCarrier {
  [PREREAD]?: Buffer;
  [RAW]?: Buffer;
}

/** The exact bytes of a JSON body parsed by jsonBody() (undefined for other requests). */
export function rawBodyOf(req: IncomingMessage): Buffer | undefined {
  return (req as BodyCarrier)[RAW];
}

/**
 * express.json() that also records the raw bytes (rawBodyOf) and accepts a body the host already read
 * for a fast path: those bytes are replayed through the same parser, so limits, charsets and parse
 * errors are exactly those of express.json().
 */
export function jsonBody(opts: { limit: number; type: string[] }): RequestHandler {
  const parse = express.json({
    limit: opts.limit,
    type: opts.type,
    verify: (req, _res, buf) => {
      (req as BodyCarrier)[RAW] = buf;
    },
  });
  return (req, res, next) => {
    const pre = (req as BodyCarrier)[PREREAD];
    if (!pre) return parse(req, res, next);
    const replay = Object.assign(Readable.from([pre], { objectMode: false }), {
      headers: req.headers,
    }) as unknown as Request & BodyCarrier;
    parse(replay, res, (err?: unknown) => {
      req.body = replay.body as unknown;
      (req as BodyCarrier)[RAW] = replay[RAW];
      next(err);
    });
  };
}

/** Whether the host may read this POST's body up front for a fast path. */
function readableBody(req: IncomingMessage, maxBytes: number): boolean {
  const type = req.headers["content-type"];
  if (!type || !/^application\/json\s*(;|$)/i.test(type)) return false;
  const enc = req.headers["content-encoding"];
  if (enc && enc.toLowerCase() !== "identity") return false;
  const len = Number(req.headers["content-length"]);
  return Number.isInteger(len) && len >= 0 && len <= maxBytes;
}

/**
 * The request listener: fast paths first (after the app-token check), then the express app.
 * A fast path that throws before writing hands the request to the app; after writing, the
 * connection is closed (the client sees a failed request, never a half answer).
 */
export function withFastPaths(
  app: RequestListener,
  fastPaths: FastPath[],
  opts: { log: Logger; tokenOk: (req: IncomingMessage) => boolean },
): RequestListener {
  if (fastPaths.length === 0) return app;
  const tryFast = (
    paths: FastPath[],
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer | null,
  ): boolean => {
    for (const f of paths) {
      try {
        if (f.handle(req, res, body)) return true;
      } catch (err) {
        opts.log.error({ err, path: req.url }, "fast path failed");
        if (res.headersSent) {
          res.destroy();
          return true;
        }
      }
    }
    return false;
  };
  return (req, res) => {
    if ((req.method !== "GET" && req.method !== "POST") || !opts.tokenOk(req)) return app(req, res);
    if (req.method === "GET") {
      if (!tryFast(fastPaths, req, res, null)) app(req, res);
      return;
    }
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const pathname = q === -1 ? url : url.slice(0, q);
    const paths = fastPaths.filter((f) => f.postPaths.has(pathname));
    if (paths.length === 0 || !readableBody(req, Math.min(...paths.map((f) => f.maxBodyBytes)))) {
      return app(req, res);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      chunks.push(c);
      size += c.length;
    });
    req.once("error", () => res.destroy());
    req.once("end", () => {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      if (tryFast(paths, req, res, body)) return;
      (req as BodyCarrier)[PREREAD] = body;
      app(req, res);
    });
  };
}
