# Server-mode image: collector, query app and migration CLI bundled by esbuild, without chdb
# (the embedded engine is ~570 MB and only needed by `pnpm start` on a laptop).
# Run one entry per container: node dist/collector.js | node dist/query.js | node dist/migrate.js
FROM node:20-bookworm-slim AS build
RUN npm install -g pnpm@12.4.2
WORKDIR /src
COPY . .
RUN pnpm install --frozen-lockfile --no-optional && pnpm build

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /src/dist ./dist
COPY --from=build /src/migrations ./migrations
ENV NODE_ENV=production HOST=0.0.0.0
USER node
EXPOSE 9085 9086
CMD ["node", "--enable-source-maps", "dist/query.js"]
