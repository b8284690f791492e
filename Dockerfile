# syntax=docker/dockerfile:1
# Multi-stage build from the npm registry alone. Models are mounted at /models.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bench/prompts ./bench/prompts
COPY package.json ./
USER node
VOLUME ["/models"]
ENTRYPOINT ["node", "dist/src/cli/index.js"]
CMD ["--help"]
