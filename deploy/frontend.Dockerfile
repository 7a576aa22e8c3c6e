# syntax=docker/dockerfile:1
# The web frontend: built with Node, served by unprivileged nginx with the same
# Content-Security-Policy as the built page (plus frame-ancestors, which only a header
# can carry).
#   docker build -f deploy/frontend.Dockerfile -t authgate/frontend \
#     --build-arg VITE_USER_SERVICE_URL=https://auth.example.com ... .
# The service URLs are baked in at build time (the page's CSP names them).

ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
COPY deploy/frontend/csp-header.mjs /tools/csp-header.mjs
ARG VITE_USER_SERVICE_URL=http://127.0.0.1:8111
ARG VITE_BACKEND_URL=http://127.0.0.1:8110
ARG VITE_TICKER_URL=ws://127.0.0.1:8080
ARG VITE_ALERT_URL=http://127.0.0.1:8112
RUN npm run build && node /tools/csp-header.mjs dist/index.html > /app/csp.conf

FROM nginxinc/nginx-unprivileged:1.27-alpine
COPY deploy/frontend/nginx.conf /etc/nginx/conf.d/default.conf
COPY --from=build /app/csp.conf /etc/nginx/csp.conf
COPY --from=build /app/dist /usr/share/nginx/html
USER 101
