/**
 * Reads the delivery parameters the sidecar model runs with from the files the project ships
 * (components/*.yaml) and from the app's own GET /dapr/subscribe, so that what is measured is what
 * an operator deploys. Defaults are daprd's and components-contrib's where a file leaves a field out.
 */
import fs from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";

export const COMPONENTS_DIR = path.resolve(__dirname, "../../../components");

/** components-contrib pubsub.redis metadata (pubsub/redis/metadata.yaml defaults). */
export interface RedisPubsubSettings {
  name: string;
  consumerID: string;
  concurrency: number;
  queueDepth: number;
  redeliverIntervalMs: number;
  processingTimeoutMs: number;
  maxLenApprox: number;
}

/** The inbound policy of the pub/sub component in a dapr.io/v1alpha1 Resiliency. */
export interface InboundPolicy {
  retry?: {
    policy: "constant" | "exponential";
    durationMs: number;
    initialIntervalMs: number;
    maxIntervalMs: number;
    /** -1 = retry forever (Dapr's default). */
    maxRetries: number;
  };
  timeoutMs?: number;
}

/** The programmatic subscription as GET /dapr/subscribe serves it (or a v2alpha1 Subscription's spec). */
export interface Subscription {
  pubsubname: string;
  topic: string;
  routes: { rules?: Array<{ match: string; path: string }>; default?: string };
  deadLetterTopic?: string;
  bulkSubscribe?: { enabled: boolean; maxMessagesCount?: number; maxAwaitDurationMs?: number };
  metadata?: Record<string, string>;
}

/** Go's time.ParseDuration for the units Dapr files use (h, m, s, ms, us, ns), e.g. "1m30s". */
export function parseGoDurationMs(text: string): number {
  const units: Record<string, number> = {
    h: 3_600_000,
    m: 60_000,
    s: 1000,
    ms: 1,
    us: 1e-3,
    µs: 1e-3,
    ns: 1e-6,
  };
  if (text === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * units[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (consumed !== text.length || consumed === 0)
    throw new Error(`not a Go duration: ${JSON.stringify(text)}`);
  return total;
}

type Doc = { kind?: string; metadata?: { name?: string }; spec?: Record<string, unknown> };

function readDocs(dir: string): Doc[] {
  const docs: Doc[] = [];
  for (const f of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
    for (const d of parseAllDocuments(fs.readFileSync(path.join(dir, f), "utf8"))) {
      if (d.errors.length > 0) throw new Error(`${f}: ${d.errors[0]!.message}`);
      docs.push(d.toJSON() as Doc);
    }
  }
  return docs;
}

function metadataMap(spec: Record<string, unknown> | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of (spec?.metadata as Array<{ name: string; value?: unknown }> | undefined) ?? []) {
    if (item.value !== undefined) out.set(item.name, String(item.value));
  }
  return out;
}

export function loadPubsub(dir = COMPONENTS_DIR, appId = "budmetrics-collector"): RedisPubsubSettings {
  const component = readDocs(dir).find((d) => d.kind === "Component" && d.spec?.type === "pubsub.redis");
  if (!component) throw new Error(`no pubsub.redis Component in ${dir}`);
  const md = metadataMap(component.spec);
  const int = (k: string, dflt: number) => (md.has(k) ? Number(md.get(k)) : dflt);
  const dur = (k: string, dflt: string) => parseGoDurationMs(md.get(k) ?? dflt);
  return {
    name: component.metadata?.name ?? "pubsub",
    consumerID: md.get("consumerID") ?? appId,
    concurrency: int("concurrency", 10),
    queueDepth: int("queueDepth", 100),
    redeliverIntervalMs: dur("redeliverInterval", "60s"),
    processingTimeoutMs: dur("processingTimeout", "15s"),
    maxLenApprox: int("maxLenApprox", 0),
  };
}

export function loadInboundPolicy(pubsubName: string, dir = COMPONENTS_DIR): InboundPolicy {
  const res = readDocs(dir).find((d) => d.kind === "Resiliency");
  const spec = res?.spec as
    | {
        policies?: {
          retries?: Record<string, Record<string, unknown>>;
          timeouts?: Record<string, string>;
        };
        targets?: { components?: Record<string, { inbound?: { retry?: string; timeout?: string } }> };
      }
    | undefined;
  const inbound = spec?.targets?.components?.[pubsubName]?.inbound;
  const out: InboundPolicy = {};
  if (inbound?.retry) {
    const r = spec?.policies?.retries?.[inbound.retry];
    if (!r) throw new Error(`resiliency retry policy ${inbound.retry} not defined`);
    out.retry = {
      policy: r.policy === "exponential" ? "exponential" : "constant",
      durationMs: parseGoDurationMs(String(r.duration ?? "5s")),
      initialIntervalMs: parseGoDurationMs(String(r.initialInterval ?? "500ms")),
      maxIntervalMs: parseGoDurationMs(String(r.maxInterval ?? "60s")),
      maxRetries: r.maxRetries === undefined ? -1 : Number(r.maxRetries),
    };
  }
  if (inbound?.timeout) {
    const t = spec?.policies?.timeouts?.[inbound.timeout] ?? inbound.timeout;
    out.timeoutMs = parseGoDurationMs(t);
  }
  return out;
}

/** The declarative Subscription in components/ (the twin of GET /dapr/subscribe). */
export function loadDeclarativeSubscription(dir = COMPONENTS_DIR): Subscription {
  const doc = readDocs(dir).find((d) => d.kind === "Subscription");
  if (!doc?.spec) throw new Error(`no Subscription in ${dir}`);
  return doc.spec as unknown as Subscription;
}

/** GET <app>/dapr/subscribe, as daprd does at start-up; the first subscription on `pubsubName`. */
export async function fetchSubscription(
  appUrl: string,
  pubsubName: string,
  token?: string,
): Promise<Subscription> {
  const res = await fetch(`${appUrl}/dapr/subscribe`, {
    headers: token ? { "dapr-api-token": token } : {},
  });
  if (!res.ok) throw new Error(`GET /dapr/subscribe answered ${res.status}`);
  const subs = (await res.json()) as Subscription[];
  const sub = subs.find((s) => s.pubsubname === pubsubName);
  if (!sub) throw new Error(`the app subscribes to nothing on ${pubsubName}`);
  return sub;
}
