# Gatehouse in a container: docs/deploy.md.
#   docker build -t gatehouse .
#   docker run -p 8080:8080 -v "$PWD/gatehouse.yaml:/etc/gatehouse/gatehouse.yaml:ro" gatehouse
# Build stage: the compiler and dev dependencies stay here.
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Run stage: the built code, its runtime dependencies and the command; runs as the unprivileged `node` user.
FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY package.json gatehouse.schema.json ./
# State (the admin API's state file, ACME certificates, a disk cache) goes under /var/lib/gatehouse.
RUN mkdir -p /etc/gatehouse /var/lib/gatehouse && chown node:node /var/lib/gatehouse
USER node
WORKDIR /var/lib/gatehouse
EXPOSE 8080
# The admin API's /healthz (no token): the config's admin.address must be 127.0.0.1:9901 for this check, or
# change it here. Without an admin section, remove the check or probe a route instead.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9901/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop) drains in-flight requests; SIGHUP (docker kill -s HUP) reloads the file; SIGUSR2
# replaces the workers one by one (workers: 2 or more).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/bin/gatehouse.js"]
CMD ["run", "-c", "/etc/gatehouse/gatehouse.yaml"]
