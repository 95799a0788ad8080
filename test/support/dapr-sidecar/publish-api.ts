/**
 * The publishing half of daprd's HTTP API, for a Redis Streams pub/sub, as dapr/dapr serves it
 * (pkg/api/http/http.go onPublish / onBulkPublish, pkg/runtime/pubsub/cloudevents.go NewCloudEvent):
 *
 * - GET  /v1.0/metadata                              what @dapr/dapr's client polls before its first call
 * - POST /v1.0/publish/{pubsub}/{topic}              one message; 204 when stored
 * - POST /v1.0-alpha1/publish/bulk/{pubsub}/{topic}  `[{entryId, event, contentType, metadata?}]`; 204
 *
 * A body sent as `application/cloudevents+json` is the publisher's own CloudEvent: it keeps its id,
 * source, type and data, and daprd adds topic, pubsubname and the trace fields. Any other content type
 * is wrapped in a new envelope (random id, source = app id, type com.dapr.event.sent). Errors are
 * daprd's: an unknown pub/sub 404 ERR_PUBSUB_NOT_FOUND, a bulk entry without a unique entryId 400,
 * a broker failure 500 ERR_PUBSUB_PUBLISH_MESSAGE (for a bulk, with the failed entries).
 * Entry ids are matched case-insensitively as Go's JSON decoder does (the SDK sends `entryID`).
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Redis } from "ioredis";
import { storedCloudEvent, type PublishTarget } from "./publisher";

export interface PublishApi {
  /** http://127.0.0.1:port — pass host and port to DaprClient. */
  url: string;
  port: number;
  /** Requests served, by path kind. */
  calls: { publish: number; bulk: number };
  /** Make the broker fail (as when Redis refuses writes) until set back to undefined. */
  failWith: string | undefined;
  close(): Promise<void>;
}

const CLOUDEVENT_TYPES = new Set(["application/cloudevents+json", "application/cloudevents-batch+json"]);

function isCloudEventContentType(ct: string | undefined): boolean {
  return CLOUDEVENT_TYPES.has((ct ?? "").split(";")[0]!.trim().toLowerCase());
}

export async function startPublishApi(opts: {
  redis: Redis;
  appId: string;
  /** Pub/sub components the sidecar loaded: name → its maxLenApprox (0 = no cap). */
  pubsubs: Record<string, number>;
}): Promise<PublishApi> {
  const calls = { publish: 0, bulk: 0 };
  const api: PublishApi = {
    url: "",
    port: 0,
    calls,
    failWith: undefined,
    close: async () => {},
  };

  function envelope(target: PublishTarget, contentType: string, body: string | object): string {
    if (isCloudEventContentType(contentType)) {
      const event = typeof body === "string" ? (JSON.parse(body) as Record<string, unknown>) : body;
      return storedCloudEvent(event as Record<string, unknown>, target);
    }
    let data: unknown = body;
    if (typeof body === "string" && contentType.includes("json")) data = JSON.parse(body);
    return storedCloudEvent(
      {
        specversion: "1.0",
        id: randomUUID(),
        source: opts.appId,
        type: "com.dapr.event.sent",
        datacontenttype: contentType,
        data,
      },
      target,
    );
  }

  async function xadd(target: PublishTarget, stored: string[]): Promise<void> {
    if (api.failWith) throw new Error(api.failWith);
    const p = opts.redis.pipeline();
    for (const data of stored) {
      if (target.maxLenApprox) p.xadd(target.topic, "MAXLEN", "~", target.maxLenApprox, "*", "data", data);
      else p.xadd(target.topic, "*", "data", data);
    }
    for (const [err] of (await p.exec()) ?? []) if (err) throw err;
  }

  function send(res: http.ServerResponse, status: number, body?: unknown) {
    if (body === undefined) {
      res.writeHead(status).end();
      return;
    }
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void handle(req, res, Buffer.concat(chunks).toString("utf8")).catch((err: unknown) =>
        send(res, 500, { errorCode: "ERR_INTERNAL", message: String(err) }),
      );
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, body: string) {
    const url = new URL(req.url ?? "/", "http://sidecar");
    if (req.method === "GET" && url.pathname === "/v1.0/metadata") {
      send(res, 200, {
        id: opts.appId,
        components: Object.keys(opts.pubsubs).map((name) => ({ name, type: "pubsub.redis" })),
      });
      return;
    }
    const m = /^\/(v1\.0|v1\.0-alpha1)\/publish\/(bulk\/)?([^/]+)\/(.+)$/.exec(url.pathname);
    if (req.method !== "POST" || !m || (m[2] !== undefined) !== (m[1] === "v1.0-alpha1")) {
      send(res, 404, { errorCode: "ERR_DIRECT_INVOKE", message: `no route ${req.method} ${url.pathname}` });
      return;
    }
    const pubsub = decodeURIComponent(m[3]!);
    const topic = decodeURIComponent(m[4]!);
    if (!(pubsub in opts.pubsubs)) {
      send(res, 404, { errorCode: "ERR_PUBSUB_NOT_FOUND", message: `pubsub ${pubsub} is not found` });
      return;
    }
    const target: PublishTarget = { topic, pubsubname: pubsub, maxLenApprox: opts.pubsubs[pubsub] };
    const publishError = (err: unknown) => ({
      errorCode: "ERR_PUBSUB_PUBLISH_MESSAGE",
      message: `error when publishing to topic ${topic} in pubsub ${pubsub}: ${err instanceof Error ? err.message : String(err)}`,
    });

    if (m[2] === undefined) {
      calls.publish++;
      let stored: string;
      try {
        stored = envelope(target, req.headers["content-type"] ?? "application/json", body);
      } catch (err) {
        send(res, 400, { errorCode: "ERR_PUBSUB_CLOUD_EVENTS_SER", message: String(err) });
        return;
      }
      try {
        await xadd(target, [stored]);
      } catch (err) {
        send(res, 500, publishError(err));
        return;
      }
      send(res, 204);
      return;
    }

    calls.bulk++;
    let entries: Array<Record<string, unknown>>;
    try {
      entries = JSON.parse(body) as Array<Record<string, unknown>>;
      if (!Array.isArray(entries))
        throw new Error("json: cannot unmarshal object into []bulkPublishMessageEntry");
    } catch (err) {
      send(res, 400, { errorCode: "ERR_PUBSUB_EVENTS_SER", message: String(err) });
      return;
    }
    const seen = new Set<string>();
    const stored: string[] = [];
    const ids: string[] = [];
    for (const e of entries) {
      const key = Object.keys(e).find((k) => k.toLowerCase() === "entryid");
      const entryId = key ? String(e[key] ?? "") : "";
      if (!entryId || seen.has(entryId)) {
        send(res, 400, {
          errorCode: "ERR_PUBSUB_EVENTS_SER",
          message: `error marshaling events to bytes for topic ${topic} pubsub ${pubsub}. error: entryId is duplicated or not present for entry`,
        });
        return;
      }
      seen.add(entryId);
      ids.push(entryId);
      const ct = String(e.contentType ?? "");
      stored.push(envelope(target, ct, e.event as string | object));
    }
    try {
      await xadd(target, stored);
    } catch (err) {
      // The Redis component publishes a bulk entry by entry; here the whole pipeline failed. daprd
      // answers with the failed entries as the body (respondWithDataAndRecordError).
      const message = publishError(err).message;
      const failed = {
        failedEntries: ids.map((entryId) => ({ entryId, error: message })),
        errorCode: "ERR_PUBSUB_PUBLISH_MESSAGE",
      };
      send(res, 500, failed);
      return;
    }
    send(res, 204);
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  api.port = (server.address() as AddressInfo).port;
  api.url = `http://127.0.0.1:${api.port}`;
  api.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return api;
}
