# syntax=docker/dockerfile:1
# Production image: Node 24 LTS, production dependencies only, unprivileged, tini as PID 1.
# test/operations/image.test.ts reproduces the install step (npm ci --omit=dev on a copy of the built app)
# and starts it, and runs the HEALTHCHECK command below against it, since no Docker engine runs in CI.

ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --chown=root:root package.json ./
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
USER node
# Tools run the same way, with node (no npm in the way, no writable HOME needed): node dist/keygen.js --help
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# tini forwards SIGTERM to node and reaps children; node drains in-flight requests, then exits 0.
ENTRYPOINT ["/usr/bin/tini", "--"]
# Peak memory (docs/performance.md): a smaller young generation, and WebAssembly (undici's HTTP parser) kept in
# V8's baseline compiler — on Node 20 its optimizing compiler took ~30 MB for a moment after the first Vobiz call.
CMD ["node", "--max-semi-space-size=2", "--liftoff-only", "dist/server.js"]
