# syntax=docker/dockerfile:1
#
# BudMetrics server-mode image: one image, three entry points, chosen by the container's command.
#   node --enable-source-maps dist/query.js      query app        (PORT 9085, the default command)
#   node --enable-source-maps dist/collector.js  collector        (PORT 9086)
#   node --enable-source-maps dist/migrate.js    migrations, one-shot (the Helm hook job)
# One image rather than one per app: the three share every dependency and one esbuild step, and one
# tag per release is what the chart and docker-compose.yml deploy. Each entry point is a self-contained
# esbuild bundle, so the runtime stage has no node_modules at all: production code only, no dev
# dependencies and no chdb (the embedded engine, ~570 MB, is for laptops and CI; CLICKHOUSE_URL must
# be set). Build and push: docs/DEPLOYMENT.md.
#
# The base is pinned to the Node.js release CI tests on; override with --build-arg NODE_IMAGE=…
# (e.g. a digest, node:20.20.2-bookworm-slim@sha256:…).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
RUN npm install -g pnpm@12.4.2
WORKDIR /src
COPY . .
# --no-optional: chdb is an optional dependency and stays out.
RUN --mount=type=cache,id=budmetrics-pnpm,target=/root/.local/share/pnpm/store \
    pnpm install --frozen-lockfile --no-optional && pnpm build

FROM ${NODE_IMAGE}
ENV NODE_ENV=production HOST=0.0.0.0
WORKDIR /app
# Owned by root, read-only for the app user.
COPY --from=build /src/dist/collector.js /src/dist/collector.js.map ./dist/
COPY --from=build /src/dist/query.js /src/dist/query.js.map ./dist/
# The explorer page's script and stylesheet (GET /ui), prebuilt.
COPY --from=build /src/dist/ui ./dist/ui
# The IP location database of /observability/metrics/geography (geoip-lite's GeoLite2 data, ~115 MB).
COPY --from=build /src/dist/geoip ./dist/geoip
COPY --from=build /src/dist/migrate.js /src/dist/migrate.js.map ./dist/
COPY --from=build /src/migrations ./migrations
# The base image's unprivileged `node` user, numeric so Kubernetes can verify runAsNonRoot.
USER 1000:1000
EXPOSE 9085 9086
# Liveness of whichever app runs (PORT), the same path the Dapr sidecar probes. A migration container
# serves nothing and is reported unhealthy, which nothing acts on for a one-shot job.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||'9085')+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--enable-source-maps", "dist/query.js"]
