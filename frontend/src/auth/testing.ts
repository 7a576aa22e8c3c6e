// Test doubles for the kit: tokens, a scripted user-service, tabs sharing a lock and a channel.
import type { ChannelLike, LocksLike } from "./client";

function b64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

let serial = 0;

/** An unsigned JWT-shaped token (the kit never verifies; the services do). */
export function makeToken(claims: Record<string, unknown> = {}, ttlSecs = 900, nowMs = Date.now()): string {
  const iat = Math.floor(nowMs / 1000);
  serial += 1;
  return [
    b64url({ alg: "RS256", typ: "at+jwt" }),
    b64url({
      sub: "user-1",
      email: "ada@example.com",
      permissions: ["positions:read", "alerts:read", "alerts:write"],
      iat,
      exp: iat + ttlSecs,
      jti: `t${serial}`,
      ...claims,
    }),
    "sig",
  ].join(".");
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export function tokenPair(claims: Record<string, unknown> = {}, ttlSecs = 900): Response {
  return json(200, { access_token: makeToken(claims, ttlSecs), token_type: "Bearer", expires_in: ttlSecs, refresh_token: "r" });
}

type Handler = (req: { method: string; path: string; headers: Headers; body: unknown; init: RequestInit }) => Response | Promise<Response>;

/** A fetch that routes `METHOD /path` to handlers and records every call. */
export function fakeFetch(routes: Record<string, Handler>) {
  const calls: { method: string; path: string; headers: Headers; credentials?: RequestCredentials; body: unknown }[] = [];
  const fetchImpl = (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input));
    const method = (init.method ?? "GET").toUpperCase();
    const headers = new Headers(init.headers);
    const body = typeof init.body === "string" ? JSON.parse(init.body) : undefined;
    calls.push({ method, path: url.pathname, headers, credentials: init.credentials, body });
    const handler = routes[`${method} ${url.pathname}`];
    if (!handler) return json(404, { error: "not_found", message: "Not found" });
    return handler({ method, path: url.pathname, headers, body, init });
  }) as typeof fetch;
  const count = (method: string, path: string) => calls.filter((c) => c.method === method && c.path === path).length;
  return { fetch: fetchImpl, calls, count };
}

/** One lock shared by every "tab" of a test: callbacks run one at a time. */
export function sharedLocks(): LocksLike {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    request<T>(_name: string, callback: () => Promise<T>): Promise<T> {
      const run = tail.then(callback);
      tail = run.catch(() => undefined);
      return run;
    },
  };
}

/** A BroadcastChannel stand-in: what one tab posts, the others receive (asynchronously, cloned). */
export function channelHub(): (name: string) => ChannelLike {
  const members = new Set<ChannelLike>();
  return () => {
    const channel: ChannelLike = {
      onmessage: null,
      postMessage(message: unknown) {
        for (const other of members) {
          if (other !== channel) {
            const data = structuredClone(message);
            queueMicrotask(() => other.onmessage?.({ data } as MessageEvent));
          }
        }
      },
      close() {
        members.delete(channel);
      },
    };
    members.add(channel);
    return channel;
  };
}

/** Lets queued microtasks and promise chains settle. */
export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
}
