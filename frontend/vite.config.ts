/// <reference types="vitest/config" />
import { defineConfig, loadEnv, type Plugin } from "vite";
import react from "@vitejs/plugin-react";
import { contentSecurityPolicy, resolveServices, SERVICE_DEFAULTS } from "./csp.ts";

/** Puts the Content-Security-Policy into the built index.html (not in dev: HMR needs inline code). */
function cspMeta(policy: string): Plugin {
  return {
    name: "authgate-csp",
    apply: "build",
    transformIndexHtml: {
      order: "post",
      handler: () => [
        { tag: "meta", attrs: { "http-equiv": "Content-Security-Policy", content: policy }, injectTo: "head-prepend" },
      ],
    },
  };
}

export default defineConfig(({ mode }) => {
  const services = resolveServices({ ...loadEnv(mode, process.cwd(), "VITE_"), ...process.env });
  // One source of defaults: the app reads import.meta.env.VITE_*, resolved here.
  const define = Object.fromEntries(
    Object.keys(SERVICE_DEFAULTS).map((k) => [`import.meta.env.${k}`, JSON.stringify(services[k as keyof typeof services])]),
  );
  const headers = {
    "Content-Security-Policy": contentSecurityPolicy(services, { headers: true }),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
  };
  return {
    plugins: [react(), cspMeta(contentSecurityPolicy(services, { headers: false }))],
    define,
    // 127.0.0.1, not localhost: the refresh cookie of user-service (127.0.0.1:8011) is
    // SameSite=Lax, so the page must be on the same site to have it sent.
    server: { host: "127.0.0.1", port: 3001, strictPort: true },
    preview: { host: "127.0.0.1", port: 3001, strictPort: true, headers },
    build: { sourcemap: false, target: "es2022" },
    test: {
      environment: "jsdom",
      globals: true,
      setupFiles: ["./src/test-setup.ts"],
      include: ["src/**/*.test.{ts,tsx}"],
      restoreMocks: true,
    },
  };
});
