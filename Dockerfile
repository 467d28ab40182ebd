# syntax=docker/dockerfile:1
# The service as an image: built in one stage, run from another with production dependencies only, as
# the unprivileged `node` user. `npm ci --omit=dev --omit=optional` plus the build output is exactly
# what test/image.e2e-spec.ts installs and starts on a machine without a Docker engine.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 builds from source when no prebuilt binary matches.
RUN apt-get update -q && apt-get install -y -q --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build-web.mjs ./scripts/
COPY src ./src
COPY web ./web
# --omit=optional: typescript arrives as @nestjs/swagger's optional peer (its CLI plugin), and pg's
# pg-cloudflare serves only Cloudflare's runtime; nothing the service loads.
RUN npm run build && npm prune --omit=dev --omit=optional --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    STORAGE_DIR=/app/data
WORKDIR /app
COPY --from=build --chown=root:root /app/package.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
# The only directory the service writes: SQLite, the installation's generated secrets.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
# The primary runs as PID 1: it handles SIGTERM itself (drain within SHUTDOWN_GRACE_MS) and waits for
# each worker it forked. It does not reap processes it did not fork (a `docker exec` session's orphans
# stay zombies until the container stops): run with `--init` if you start background jobs that way.
STOPSIGNAL SIGTERM
# Liveness without curl: Node's own fetch against /api/health (PROBE_PORT when set).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PROBE_PORT || process.env.PORT || 3000}/api/health`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]
