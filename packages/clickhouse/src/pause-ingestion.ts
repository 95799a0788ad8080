/**
 * Pausing ingestion around a migration that backfills (Kubernetes only).
 *
 * A migration that fills a new table from data already stored (`INSERT … SELECT`, e.g. 0006) and then
 * creates the view that keeps the table current is exact only when nothing is inserted between the
 * two statements. The migration job is a Helm pre-upgrade hook and runs while the collectors are up,
 * so the CLI (`--pause-deployment NAME`) scales the collector Deployment to 0 for the run, waits until
 * its pods are gone (they drain and acknowledge what they hold; the rest waits in the pub/sub), and
 * restores the replica count afterwards — also when the migration fails, because a stopped collector
 * lets the stream grow towards its length bound (Redis `maxLenApprox`), past which events are lost.
 *
 * The replica count to restore is written on the Deployment as an annotation before it is scaled to
 * 0, so a job that dies in between is repaired by the next run (or by hand, see docs/DEPLOYMENT.md).
 * A HorizontalPodAutoscaler does not act on a Deployment at 0 replicas and resumes once it is restored.
 */
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import type { Logger } from "@budmetrics/logger";
import { renderMigration, type Migration, type RenderContext } from "./migrations";

/** Annotation holding the replica count to restore while a Deployment is paused by the migration job. */
export const PAUSED_REPLICAS_ANNOTATION = "budmetrics/paused-replicas";

/** True when the migration fills a table from data already stored: it needs ingestion paused. */
export function backfills(m: Migration, ctx: RenderContext): boolean {
  return renderMigration(m.source, ctx).some((sql) => /^INSERT\s/i.test(sql));
}

export interface Deployment {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { replicas?: number; selector: { matchLabels?: Record<string, string> } };
}

/** The three Kubernetes calls the pause needs (RBAC: deployments get/patch, pods list). */
export interface KubeApi {
  /** null when the Deployment does not exist (first install). */
  getDeployment(namespace: string, name: string): Promise<Deployment | null>;
  /** JSON merge patch (`null` removes a key). */
  patchDeployment(namespace: string, name: string, patch: unknown): Promise<Deployment>;
  /** Names of the pods matching the selector, terminating ones included. */
  listPods(namespace: string, labelSelector: string): Promise<string[]>;
}

export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "KubeApiError";
  }
}

export interface KubeApiOptions {
  /** e.g. https://10.0.0.1:443 */
  baseUrl: string;
  token?: string;
  /** CA bundle of the API server (the service account's ca.crt). */
  ca?: Buffer;
  timeoutMs?: number;
}

export function createKubeApi(opts: KubeApiOptions): KubeApi {
  const base = new URL(opts.baseUrl);
  const transport = base.protocol === "https:" ? https : http;
  const timeoutMs = opts.timeoutMs ?? 10_000;

  function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: "application/json" };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (payload) {
      headers["content-type"] = "application/merge-patch+json";
      headers["content-length"] = String(payload.length);
    }
    return new Promise((resolve, reject) => {
      const req = transport.request(
        new URL(path, base),
        { method, headers, timeout: timeoutMs, ...(opts.ca ? { ca: opts.ca } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let json: unknown = null;
            try {
              json = text ? JSON.parse(text) : null;
            } catch {
              json = text;
            }
            resolve({ status: res.statusCode ?? 0, json });
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () =>
        req.destroy(new Error(`kubernetes API ${method} ${path}: no answer in ${timeoutMs} ms`)),
      );
      req.on("error", reject);
      req.end(payload);
    });
  }

  const fail = (what: string, r: { status: number; json: unknown }) => {
    const message =
      r.json && typeof r.json === "object" && "message" in r.json ? String(r.json.message) : String(r.json);
    return new KubeApiError(`kubernetes API: ${what} answered ${r.status}: ${message}`, r.status);
  };
  const deploymentPath = (ns: string, name: string) =>
    `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/deployments/${encodeURIComponent(name)}`;

  return {
    async getDeployment(ns, name) {
      const r = await call("GET", deploymentPath(ns, name));
      if (r.status === 404) return null;
      if (r.status !== 200) throw fail(`get deployment ${ns}/${name}`, r);
      return r.json as Deployment;
    },
    async patchDeployment(ns, name, patch) {
      const r = await call("PATCH", deploymentPath(ns, name), patch);
      if (r.status !== 200) throw fail(`patch deployment ${ns}/${name}`, r);
      return r.json as Deployment;
    },
    async listPods(ns, labelSelector) {
      const r = await call(
        "GET",
        `/api/v1/namespaces/${encodeURIComponent(ns)}/pods?labelSelector=${encodeURIComponent(labelSelector)}`,
      );
      if (r.status !== 200) throw fail(`list pods ${ns} ${labelSelector}`, r);
      const items = (r.json as { items?: Array<{ metadata: { name: string } }> }).items ?? [];
      return items.map((p) => p.metadata.name);
    },
  };
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/**
 * The API server and credentials of the pod this runs in (service account token and CA), or the
 * given base URL (tests, `kubectl proxy`). Throws with the reason when neither is available.
 */
export function inClusterKubeApi(
  env: Record<string, string | undefined>,
  baseUrl?: string,
  saDir: string = SERVICE_ACCOUNT_DIR,
): { api: KubeApi; namespace: string | null } {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  const url = baseUrl ?? (host ? `https://${host.includes(":") ? `[${host}]` : host}:${port}` : undefined);
  if (!url) {
    throw new Error(
      "not running in Kubernetes (KUBERNETES_SERVICE_HOST unset) and no --kube-api given: cannot pause the collector",
    );
  }
  const read = (f: string) => {
    try {
      return fs.readFileSync(`${saDir}/${f}`);
    } catch {
      return undefined;
    }
  };
  const token = read("token")?.toString("utf8").trim();
  const ca = read("ca.crt");
  const namespace = read("namespace")?.toString("utf8").trim() ?? null;
  return {
    api: createKubeApi({ baseUrl: url, ...(token ? { token } : {}), ...(ca ? { ca } : {}) }),
    namespace,
  };
}

export interface PauseOptions {
  namespace: string;
  deployment: string;
  /** How long to wait for the Deployment's pods to be gone (they drain first). */
  timeoutMs: number;
  pollMs?: number;
  log: Logger;
}

function selectorOf(d: Deployment): string {
  const labels = d.spec.selector.matchLabels ?? {};
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  if (parts.length === 0) throw new Error(`deployment ${d.metadata.name} has no matchLabels selector`);
  return parts.join(",");
}

/**
 * Runs `fn` with the Deployment scaled to 0 and its pods gone, then restores the replica count (also
 * when `fn` or the wait fails). A Deployment that does not exist (first install) is not touched.
 */
export async function withDeploymentPaused<T>(
  kube: KubeApi,
  opts: PauseOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const { namespace, deployment, log } = opts;
  const current = await kube.getDeployment(namespace, deployment);
  if (!current) {
    log.info({ namespace, deployment }, "deployment not found (first install): nothing to pause");
    return fn();
  }
  const recorded = current.metadata.annotations?.[PAUSED_REPLICAS_ANNOTATION];
  // A previous run that died after scaling to 0 left the count to restore on the Deployment.
  const replicas = recorded !== undefined ? Number(recorded) : (current.spec.replicas ?? 1);
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw new Error(
      `deployment ${deployment}: annotation ${PAUSED_REPLICAS_ANNOTATION}="${recorded}" is not a count`,
    );
  }
  const selector = selectorOf(current);
  log.info({ namespace, deployment, replicas }, "pausing ingestion: scaling the collector to 0");
  await kube.patchDeployment(namespace, deployment, {
    metadata: { annotations: { [PAUSED_REPLICAS_ANNOTATION]: String(replicas) } },
    spec: { replicas: 0 },
  });
  try {
    const until = Date.now() + opts.timeoutMs;
    for (;;) {
      const pods = await kube.listPods(namespace, selector);
      if (pods.length === 0) break;
      if (Date.now() >= until) {
        throw new Error(
          `deployment ${deployment}: ${pods.length} pod(s) still present after ${opts.timeoutMs} ms (${pods.join(", ")}); not migrating while they may write`,
        );
      }
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 2_000));
    }
    log.info({ namespace, deployment }, "collector pods gone: ingestion paused");
    return await fn();
  } finally {
    await kube.patchDeployment(namespace, deployment, {
      metadata: { annotations: { [PAUSED_REPLICAS_ANNOTATION]: null } },
      spec: { replicas },
    });
    log.info({ namespace, deployment, replicas }, "ingestion resumed: collector replicas restored");
  }
}
