// Build-time configuration: where the services are, and the Content-Security-Policy that
// lets the page talk to them and to nothing else. Used by vite.config.ts only.

/** The services the frontend talks to, with the dev defaults of the platform. */
export const SERVICE_DEFAULTS = {
  VITE_USER_SERVICE_URL: "http://127.0.0.1:8011",
  VITE_BACKEND_URL: "http://127.0.0.1:8010",
  VITE_TICKER_URL: "ws://127.0.0.1:8080",
  VITE_ALERT_URL: "http://127.0.0.1:8012",
} as const;

export type ServiceName = keyof typeof SERVICE_DEFAULTS;
export type Services = Record<ServiceName, string>;

/** Each URL from `env` or its default, without a trailing slash; refuses anything not http(s)/ws(s). */
export function resolveServices(env: Record<string, string | undefined>): Services {
  const out = {} as Services;
  for (const name of Object.keys(SERVICE_DEFAULTS) as ServiceName[]) {
    const raw = (env[name] ?? "").trim() || SERVICE_DEFAULTS[name];
    const url = new URL(raw);
    const wantWs = name === "VITE_TICKER_URL";
    const ok = wantWs ? ["ws:", "wss:"].includes(url.protocol) : ["http:", "https:"].includes(url.protocol);
    if (!ok) throw new Error(`${name}=${raw}: expected ${wantWs ? "ws:// or wss://" : "http:// or https://"}`);
    out[name] = raw.replace(/\/+$/, "");
  }
  return out;
}

/**
 * The policy: scripts, styles and fonts from the page's own origin only, images from it
 * or generated locally (the QR code is a data: URL), and connections only to the four
 * configured services. No inline script, no eval, no plugins, no framing.
 */
export function contentSecurityPolicy(services: Services, opts: { headers: boolean }): string {
  const connect = [...new Set(Object.values(services).map((u) => new URL(u).origin))];
  const directives = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "manifest-src 'self'",
    `connect-src ${connect.join(" ")}`,
    "base-uri 'none'",
    "form-action 'none'",
    "object-src 'none'",
  ];
  // frame-ancestors is ignored in a <meta> tag; only a header can carry it.
  if (opts.headers) directives.push("frame-ancestors 'none'");
  return directives.join("; ");
}
