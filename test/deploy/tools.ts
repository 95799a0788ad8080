/**
 * Shared by the deployment tests: where the repository is, which external tools exist here (Docker
 * engine, helm, yamllint), and a loud notice for what is skipped for lack of one.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const ROOT = path.resolve(__dirname, "../..");
export const CHART = path.join(ROOT, "helm/budmetrics");

export const repoFile = (rel: string) => fs.readFileSync(path.join(ROOT, rel), "utf8");

export function skipNotice(file: string, reason: string, what: string): void {
  console.warn(`\n*** SKIPPED ${file}: ${reason}.\n*** ${what}\n`);
}

/** A Docker engine to talk to (the client alone is not enough). */
export function dockerEngine(): { ok: boolean; reason: string } {
  if (process.env.SKIP_DOCKER_TESTS === "1") return { ok: false, reason: "SKIP_DOCKER_TESTS=1" };
  const sockets = ["/var/run/docker.sock", path.join(os.homedir(), ".docker/run/docker.sock")];
  if (!process.env.DOCKER_HOST && !sockets.some((s) => fs.existsSync(s))) {
    return { ok: false, reason: "no Docker engine (no DOCKER_HOST, no /var/run/docker.sock)" };
  }
  const v = spawnSync("docker", ["version", "--format", "{{.Server.Version}}"], { encoding: "utf8" });
  if (v.status !== 0) return { ok: false, reason: `docker version failed: ${(v.stderr || v.stdout).trim()}` };
  return { ok: true, reason: "" };
}

/** A program on PATH (or at one of the given paths) that answers `--version`-like args. */
export function findTool(name: string, candidates: string[], args: string[]): string | null {
  for (const c of [...candidates.map((p) => path.join(ROOT, p)), name]) {
    if (c.includes("/") && !fs.existsSync(c)) continue;
    const r = spawnSync(c, args, { encoding: "utf8" });
    if (r.status === 0) return c;
  }
  return null;
}

/** The helm binaries installed by scripts/install-helm.sh (both majors), else one on PATH. */
export function helmBinaries(): Array<{ bin: string; version: string }> {
  const out: Array<{ bin: string; version: string }> = [];
  const seen = new Set<string>();
  for (const c of [".tools/helm3/helm", ".tools/helm4/helm", "helm"]) {
    const bin = c.includes("/") ? path.join(ROOT, c) : c;
    if (c.includes("/") && !fs.existsSync(bin)) continue;
    const r = spawnSync(bin, ["version", "--template", "{{.Version}}"], { encoding: "utf8" });
    if (r.status !== 0) continue;
    const version = r.stdout.trim();
    if (seen.has(version)) continue;
    seen.add(version);
    out.push({ bin, version });
  }
  return out;
}
