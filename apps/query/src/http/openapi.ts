import type { Endpoint } from "./endpoint";
import { EXPORT_PARAMETERS, EXPORT_CONTENT } from "./export";

/** OpenAPI 3.1 document from the endpoint table: the request schemas are the validation schemas. */
export function buildOpenApi(endpoints: readonly Endpoint[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const ep of endpoints) {
    const path = ep.path.replace(/:([a-z_]+)/gi, "{$1}");
    const parameters: unknown[] = [];
    for (const m of ep.path.matchAll(/:([a-z_]+)/gi)) {
      parameters.push({ name: m[1], in: "path", required: true, schema: { type: "string" } });
    }
    if (ep.query) {
      const q = ep.query as { properties?: Record<string, object>; required?: string[] };
      for (const [name, schema] of Object.entries(q.properties ?? {})) {
        parameters.push({ name, in: "query", required: (q.required ?? []).includes(name), schema });
      }
    }
    // An endpoint's own query parameter of the same name (e.g. timezone) keeps its documentation.
    const own = new Set(parameters.map((p) => (p as { name: string }).name));
    parameters.push(...EXPORT_PARAMETERS.filter((p) => !own.has(p.name)));
    const responses: Record<string, unknown> = {
      "200": {
        description: "OK",
        content: { "application/json": { schema: { type: "object" } }, ...EXPORT_CONTENT },
      },
      ...(ep.body || ep.query || ep.params
        ? {
            "422": {
              description: "validation failed",
              content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
            },
          }
        : {}),
      ...(ep.body
        ? { "400": { description: "malformed JSON" }, "413": { description: "body too large" } }
        : {}),
      "503": { description: "ClickHouse unavailable (Retry-After)" },
    };
    for (const [status, description] of Object.entries(ep.responses ?? {}))
      responses[status] = { description };
    paths[path] = {
      ...(paths[path] ?? {}),
      [ep.method]: {
        summary: ep.summary,
        ...(ep.description ? { description: ep.description } : {}),
        tags: [ep.tag],
        ...(parameters.length ? { parameters } : {}),
        ...(ep.body
          ? { requestBody: { required: true, content: { "application/json": { schema: ep.body } } } }
          : {}),
        responses,
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "BudMetrics query API",
      version,
      description:
        "Analytics and browsing over inference events and metric samples (rollups first, Redis cache).",
    },
    paths,
    components: {
      schemas: {
        Error: {
          type: "object",
          properties: {
            error: {
              type: "object",
              properties: { code: { type: "string" }, kind: { type: "string" }, message: { type: "string" } },
              required: ["code", "message"],
            },
          },
        },
      },
    },
  };
}

/** A self-contained docs page (no CDN: the network may be closed) rendering /openapi.json. */
export const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>BudMetrics query API</title>
<style>
body{font-family:system-ui,sans-serif;max-width:980px;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem} h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
.op{border:1px solid #ddd;border-radius:6px;margin:.8rem 0;padding:.6rem .8rem}
.m{display:inline-block;min-width:3.5rem;font-weight:700;text-transform:uppercase}
.get{color:#1769aa}.post{color:#2e7d32} code{background:#f4f4f4;padding:0 .25rem}
pre{background:#f7f7f7;padding:.6rem;overflow:auto;font-size:.8rem;max-height:24rem}
details summary{cursor:pointer;color:#555}
</style></head><body>
<h1>BudMetrics query API</h1>
<p>Machine-readable document: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<div id="ops">Loading…</div>
<script>
fetch('/openapi.json').then(r=>r.json()).then(doc=>{
  const byTag={};
  for(const [p,ops] of Object.entries(doc.paths)) for(const [m,op] of Object.entries(ops)) (byTag[op.tags[0]]??=[]).push([m,p,op]);
  const el=document.getElementById('ops'); el.textContent='';
  const esc=s=>String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
  for(const [tag,ops] of Object.entries(byTag)){
    const h=document.createElement('h2'); h.textContent=tag; el.appendChild(h);
    for(const [m,p,op] of ops){
      const d=document.createElement('div'); d.className='op';
      let html='<span class="m '+m+'">'+m+'</span> <code>'+esc(p)+'</code> — '+esc(op.summary||'');
      if(op.description) html+='<p>'+esc(op.description)+'</p>';
      if(op.parameters) html+='<details><summary>parameters</summary><pre>'+esc(JSON.stringify(op.parameters,null,2))+'</pre></details>';
      if(op.requestBody) html+='<details><summary>request body schema</summary><pre>'+esc(JSON.stringify(op.requestBody.content['application/json'].schema,null,2))+'</pre></details>';
      html+='<details><summary>responses</summary><pre>'+esc(JSON.stringify(op.responses,null,2))+'</pre></details>';
      d.innerHTML=html; el.appendChild(d);
    }
  }
}).catch(e=>{document.getElementById('ops').textContent='could not load /openapi.json: '+e});
</script></body></html>`;
