# One image for every MonitorMed Node service; docker-compose.yml picks the workspace to start.
# The services run TypeScript through tsx, so there is no separate build stage.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# .npmrc tells the onnxruntime-node install script to skip its optional CUDA download.
COPY package.json package-lock.json .npmrc ./
COPY common/package.json common/
COPY hl7-listener/package.json hl7-listener/
COPY fhir-server-ext/package.json fhir-server-ext/
COPY analyzers/package.json analyzers/
COPY smart-app/package.json smart-app/
COPY synthea-data/package.json synthea-data/
COPY profiles/package.json profiles/
COPY sdk/package.json sdk/
RUN npm ci --include=dev
COPY . .
# The SMART app serves Vite-built pages from smart-app/dist/. They are built here, as root, because the
# service runs as the node user, which cannot write into /app.
RUN npm run build -w @monitormed/smart-app
USER node
