/** The page's calls to the query API: the app token (when the server has one) goes in `dapr-api-token`. */

const TOKEN_KEY = "budmetrics.token";

export function savedToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function saveToken(token: string): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ApiAnswer<T> {
  body: T;
  status: number;
  headers: Headers;
  ms: number;
  bytes: number;
}

export async function call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<ApiAnswer<T>> {
  const headers: Record<string, string> = { accept: "application/json" };
  const token = savedToken();
  if (token) headers["dapr-api-token"] = token;
  if (body !== undefined) headers["content-type"] = "application/json";
  const started = performance.now();
  const res = await fetch(path, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  const ms = performance.now() - started;
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ApiError(res.status, `HTTP ${res.status}: not JSON`);
  }
  if (!res.ok) {
    const e = (parsed as { error?: { code?: string; message?: string } }).error;
    throw new ApiError(res.status, `${e?.code ?? `HTTP ${res.status}`}: ${e?.message ?? "request failed"}`);
  }
  return { body: parsed as T, status: res.status, headers: res.headers, ms, bytes: text.length };
}

/** Same request as a file download (CSV / NDJSON export of the answer). */
export async function download(path: string, body: unknown, format: "csv" | "ndjson"): Promise<void> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  const token = savedToken();
  if (token) headers["dapr-api-token"] = token;
  const sep = path.includes("?") ? "&" : "?";
  const res = await fetch(`${path}${sep}format=${format}`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new ApiError(res.status, `export failed: HTTP ${res.status}`);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = `budmetrics-${path.split("/").pop() ?? "export"}.${format === "csv" ? "csv" : "ndjson"}`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
