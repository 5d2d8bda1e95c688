# syntax=docker/dockerfile:1
# The chat platform's two images, from one file. Node 24 runs the TypeScript sources directly, so
# each image is the production dependencies plus the folders its program imports; the one build step
# is the web app that the chat node serves at / (web/, bundled with the SDK by esbuild).
#
#   docker build --target chat-node -t chat-platform/chat-node:0.1.0 .      # node chat-node/main.ts
#   docker build --target operator  -t chat-platform/chat-operator:0.1.0 .  # node operator/main.ts
#
# skaffold.yaml builds both. Both run as uid/gid 1000 (the base image's `node` user, written as
# numbers so that Kubernetes' runAsNonRoot can check it); the operator's pods and the chat nodes'
# StatefulSet set their own non-root ids, which works too: every file is world-readable.

ARG NODE_IMAGE=node:24-slim

# ---- production dependencies, exactly as package-lock.json pins them -----------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The lockfile leaves out other platforms' optional packages of the dev tools (see README: npm ci
# reports them missing), so the devDependencies go first; what remains installs exactly as locked.
# --ignore-scripts: no production dependency needs an install script, and the `node` package's
# would download a second Node.js that this image already has.
RUN npm pkg delete devDependencies \
 && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# ---- the web app, bundled for browsers into web/dist (scripts/build-web.ts) -----------------------
FROM ${NODE_IMAGE} AS web
WORKDIR /app
COPY package-lock.json ./
# Only esbuild, at the version package-lock.json pins (installed beside, not from, package.json).
RUN mkdir /tools && cd /tools \
 && npm install --no-save --ignore-scripts --no-audit --no-fund \
      "esbuild@$(node -p "require('/app/package-lock.json').packages['node_modules/esbuild'].version")" \
 && ln -s /tools/node_modules /app/node_modules
COPY package.json ./
COPY common ./common
COPY client ./client
COPY web ./web
COPY scripts/build-web.ts ./scripts/build-web.ts
RUN node scripts/build-web.ts

# ---- what both programs share ---------------------------------------------------------------------
FROM ${NODE_IMAGE} AS base
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# package.json: "type": "module" makes Node read the .ts sources as ES modules.
COPY package.json ./
COPY common ./common
COPY chat-node ./chat-node

# ---- the chat node: HTTP API and WebSockets on 8080 ------------------------------------------------
FROM base AS chat-node
COPY --from=web /app/web/dist ./web/dist
# The embedded store's directory when no backends are configured (the operator mounts an emptyDir).
RUN mkdir -p /data && chown 1000:1000 /data
ENV CHAT_DATA_DIR=/data
USER 1000:1000
EXPOSE 8080
# SIGTERM drains the node (clients are asked to reconnect elsewhere) before it exits.
STOPSIGNAL SIGTERM
# ENTRYPOINT, so that arguments (`docker run … --help`, a pod's `args`) go to the program.
ENTRYPOINT ["node", "chat-node/main.ts"]

# ---- the operator: /metrics, /healthz and /readyz on 8081 -------------------------------------------
FROM base AS operator
COPY operator ./operator
USER 1000:1000
EXPOSE 8081
# ENTRYPOINT: the chart passes the operator's flags as the container's `args`.
ENTRYPOINT ["node", "operator/main.ts"]
