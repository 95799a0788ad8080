/**
 * A Kubernetes API server of three endpoints (get / merge-patch a Deployment, list pods by label),
 * enough for the migration job's pause: it keeps one Deployment, and its pods disappear a few list
 * calls after the Deployment is scaled to 0 (as draining pods do).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeDeployment {
  metadata: { name: string; namespace: string; annotations?: Record<string, string> };
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> } };
}

export interface FakeKube {
  url: string;
  calls: string[];
  deployment: FakeDeployment | null;
  pods: string[];
  /** List calls that still see the pods after the scale to 0. */
  lingerPolls: number;
  /** Patches received, in order. */
  patches: unknown[];
  close(): Promise<void>;
}

function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (typeof v === "object" && !Array.isArray(v)) {
      const t = (target[k] ?? {}) as Record<string, unknown>;
      mergePatch(t, v as Record<string, unknown>);
      target[k] = t;
    } else target[k] = v;
  }
}

export async function startFakeKube(init: {
  deployment: FakeDeployment | null;
  pods: string[];
  lingerPolls?: number;
}): Promise<FakeKube> {
  let remaining = init.lingerPolls ?? 2;
  const state: FakeKube = {
    url: "",
    calls: [],
    deployment: init.deployment,
    pods: [...init.pods],
    lingerPolls: init.lingerPolls ?? 2,
    patches: [],
    close: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      state.calls.push(`${req.method} ${url.pathname}${url.search}`);
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      const dep = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)$/.exec(url.pathname);
      if (dep) {
        const d = state.deployment;
        if (!d || d.metadata.namespace !== dep[1] || d.metadata.name !== dep[2]) {
          return send(404, { kind: "Status", message: `deployments.apps "${dep[2]}" not found` });
        }
        if (req.method === "GET") return send(200, d);
        if (req.method === "PATCH") {
          if (req.headers["content-type"] !== "application/merge-patch+json") {
            return send(415, { message: "unsupported media type" });
          }
          const patch = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
          state.patches.push(patch);
          mergePatch(d as unknown as Record<string, unknown>, patch);
          if (d.spec.replicas === 0) remaining = state.lingerPolls;
          return send(200, d);
        }
      }
      const pods = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname);
      if (pods && req.method === "GET") {
        const d = state.deployment;
        const want = d
          ? Object.entries(d.spec.selector.matchLabels)
              .map(([k, v]) => `${k}=${v}`)
              .join(",")
          : "";
        if (url.searchParams.get("labelSelector") !== want) return send(200, { items: [] });
        if (d && d.spec.replicas === 0) {
          if (remaining > 0) remaining--;
          else state.pods = [];
        }
        return send(200, { items: state.pods.map((name) => ({ metadata: { name } })) });
      }
      send(404, { message: "no such endpoint" });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}
