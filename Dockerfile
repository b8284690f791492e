# syntax=docker/dockerfile:1
# specroute: multi-stage build from the npm registry alone; runs as a non-root user; models come from a volume.
#   docker build -t specroute .
#   docker run -p 8080:8080 -p 50051:50051 -v "$PWD/../shared/models:/models:ro" specroute
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json tsconfig.bench.json ./
COPY src ./src
# The web UI (playground, dashboard): bundled into dist/ui by the build's esbuild step.
COPY ui ./ui
COPY scripts/build-ui.mjs ./scripts/
COPY bench ./bench
COPY proto ./proto
# npm ci's install script builds the native kernels and the in-place logits reader here, or (no compiler or git in
# this slim image) says so in one line each, and specroute uses the TypeScript kernels and node-llama-cpp's sampler.
COPY native-bindings ./native-bindings
# npm ci builds dist/ through the package's own prepare script (dist/src, and the bench harness in dist/bench);
# dependency install scripts stay off (allowScripts).
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev \
 # This is a CPU image: drop node-llama-cpp's GPU prebuilds (hundreds of MB).
 && rm -rf node_modules/@node-llama-cpp/*-cuda* node_modules/@node-llama-cpp/*-vulkan*

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    SPECROUTE_HOST=0.0.0.0 \
    SPECROUTE_MODELS_DIR=/models
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
# The server only: dist/src and its web UI (dist/ui), as the npm package ships them. The bench harness (dist/bench, with bench/prompts) stays
# in the build stage; `specroute bench` in this image says it is not built.
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/ui ./dist/ui
COPY --from=build /app/proto ./proto
COPY package.json specroute.yaml ./
RUN mkdir -p /models /tmp/specroute-cache && chown node:node /tmp/specroute-cache
USER node
VOLUME ["/models"]
EXPOSE 8080 50051
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:8080/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "dist/src/cli/index.js"]
CMD ["serve", "--config", "specroute.yaml"]
