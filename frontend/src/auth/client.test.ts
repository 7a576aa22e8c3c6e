import { afterEach, describe, expect, it, vi } from "vitest";
import { createApiClient } from "./api";
import { AuthClient, type AuthClientOptions } from "./client";
import { ApiError, describeError } from "./errors";
import { channelHub, fakeFetch, json, makeToken, settle, sharedLocks, tokenPair } from "./testing";

const US = "http://us.test";
const BACKEND = "http://backend.test";

function client(fetchImpl: typeof fetch, extra: Partial<AuthClientOptions> = {}): AuthClient {
  return new AuthClient({ userServiceUrl: US, fetch: fetchImpl, locks: null, createChannel: () => null, ...extra });
}

const clients: AuthClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.dispose();
  vi.useRealTimers();
});
function track(c: AuthClient): AuthClient {
  clients.push(c);
  return c;
}

describe("silent restore", () => {
  it("restores the session from the refresh cookie, sending credentials", async () => {
    const api = fakeFetch({ "POST /v1/auth/refresh": () => tokenPair({ email: "ada@example.com" }) });
    const auth = track(client(api.fetch));
    await auth.start();
    expect(auth.getState().status).toBe("signedIn");
    expect(auth.getState().user?.email).toBe("ada@example.com");
    expect(api.calls[0]?.credentials).toBe("include");
  });

  it("is signed out, without telling other tabs, when there is no cookie", async () => {
    const hub = channelHub();
    const other = track(client(fakeFetch({ "POST /v1/auth/refresh": () => tokenPair() }).fetch, { createChannel: hub }));
    await other.start();
    const api = fakeFetch({ "POST /v1/auth/refresh": () => json(401, { error: "invalid_grant", message: "x" }) });
    const auth = track(client(api.fetch, { createChannel: hub }));
    await auth.start();
    await settle();
    expect(auth.getState()).toMatchObject({ status: "signedOut", reason: null });
    expect(other.getState().status).toBe("signedIn");
  });
});

describe("401 handling", () => {
  it("ten concurrent 401s cause exactly one refresh, then every request is retried once", async () => {
    let current = "";
    const api = fakeFetch({
      "POST /v1/auth/refresh": async () => {
        await new Promise((r) => setTimeout(r, 20));
        const res = tokenPair();
        current = ((await res.clone().json()) as { access_token: string }).access_token;
        return res;
      },
      "GET /api/positions": ({ headers }) =>
        headers.get("Authorization") === `Bearer ${current}` ? json(200, { positions: [] }) : json(401, { error: "invalid_token" }),
    });
    const auth = track(client(api.fetch));
    await auth.start();
    expect(api.count("POST", "/v1/auth/refresh")).toBe(1);
    current = "revoked-by-the-server"; // every token the tab holds is now refused
    const backend = createApiClient(auth, BACKEND, { service: "the backend" });
    const results = await Promise.all(Array.from({ length: 10 }, () => backend.get("/api/positions")));
    expect(results).toHaveLength(10);
    expect(api.count("POST", "/v1/auth/refresh")).toBe(2); // the restore, then ONE for the ten 401s
    expect(api.count("GET", "/api/positions")).toBe(20); // each request: the 401, then one retry
  });

  it("a failed refresh signs out, tells the other tabs, and the request fails with session_ended", async () => {
    const hub = channelHub();
    let refreshes = 0;
    const api = fakeFetch({
      "POST /v1/auth/refresh": () => (++refreshes === 1 ? tokenPair() : json(401, { error: "invalid_grant", message: "x" })),
      "GET /api/positions": () => json(401, { error: "invalid_token" }),
    });
    const auth = track(client(api.fetch, { createChannel: hub }));
    const other = track(client(fakeFetch({ "POST /v1/auth/refresh": () => tokenPair() }).fetch, { createChannel: hub }));
    await Promise.all([auth.start(), other.start()]);
    const backend = createApiClient(auth, BACKEND, { service: "the backend" });
    const error = await backend.get("/api/positions").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe("session_ended");
    expect(describeError(error)).toBe("Your session has ended. Sign in again.");
    expect(auth.getState()).toMatchObject({ status: "signedOut", reason: "sessionEnded", user: null });
    await settle();
    expect(other.getState()).toMatchObject({ status: "signedOut", reason: "sessionEnded" });
    expect(await auth.getAccessToken()).toBeNull();
  });

  it("does not retry a request refused for another reason", async () => {
    const api = fakeFetch({
      "POST /v1/auth/refresh": () => tokenPair(),
      "DELETE /alerts/1": () => json(403, { error: "insufficient_scope", message: "Missing permission" }),
    });
    const auth = track(client(api.fetch));
    await auth.start();
    const alerts = createApiClient(auth, "http://alerts.test", { service: "the alert service" });
    const error = await alerts.delete("/alerts/1").catch((e: unknown) => e);
    expect(describeError(error)).toBe("You do not have permission to do this.");
    expect(api.count("DELETE", "/alerts/1")).toBe(1);
    expect(api.count("POST", "/v1/auth/refresh")).toBe(1);
  });
});

describe("409 refresh_superseded", () => {
  it("retries once with the cookie and never signs out", async () => {
    let refreshes = 0;
    const api = fakeFetch({
      "POST /v1/auth/refresh": () =>
        ++refreshes === 1 ? json(409, { error: "refresh_superseded", message: "Another tab refreshed" }) : tokenPair({ email: "b@example.com" }),
    });
    const auth = track(client(api.fetch));
    const states: string[] = [];
    auth.subscribe(() => states.push(auth.getState().status));
    await auth.start();
    expect(api.count("POST", "/v1/auth/refresh")).toBe(2);
    expect(auth.getState().status).toBe("signedIn");
    expect(states).not.toContain("signedOut");
  });

  it("keeps a still-valid token when the retry is superseded too", async () => {
    let refreshes = 0;
    const api = fakeFetch({
      "POST /v1/auth/refresh": () => (++refreshes === 1 ? tokenPair() : json(409, { error: "refresh_superseded", message: "x" })),
    });
    const auth = track(client(api.fetch));
    await auth.start();
    const token = await auth.getAccessToken();
    const again = await auth.refreshAfter(token);
    expect(again).toBe(token);
    expect(refreshes).toBe(3);
    expect(auth.getState().status).toBe("signedIn");
  });
});

describe("storage", () => {
  it("no token ever reaches Web Storage or a readable cookie", async () => {
    const setItem = vi.spyOn(Storage.prototype, "setItem");
    const api = fakeFetch({
      "POST /v1/auth/login": () => tokenPair(),
      "POST /v1/auth/refresh": () => tokenPair(),
      "GET /api/positions": () => json(200, { positions: [] }),
    });
    const auth = track(client(api.fetch));
    await auth.start();
    await auth.signIn("ada@example.com", "correct horse battery");
    const token = await auth.getAccessToken();
    await auth.refreshAfter(token);
    await createApiClient(auth, BACKEND, { service: "the backend" }).get("/api/positions");
    expect(setItem).not.toHaveBeenCalled();
    expect(localStorage.length).toBe(0);
    expect(sessionStorage.length).toBe(0);
    expect(document.cookie).toBe("");
  });
});

describe("tabs", () => {
  it("signing out in one tab signs out every tab", async () => {
    const hub = channelHub();
    const routes = {
      "POST /v1/auth/refresh": () => tokenPair(),
      "POST /v1/auth/logout": () => new Response(null, { status: 204 }),
    };
    const a = track(client(fakeFetch(routes).fetch, { createChannel: hub }));
    const b = track(client(fakeFetch(routes).fetch, { createChannel: hub }));
    await Promise.all([a.start(), b.start()]);
    expect(b.getState().status).toBe("signedIn");
    await a.signOut();
    await settle();
    expect(a.getState()).toMatchObject({ status: "signedOut", reason: "signedOut" });
    expect(b.getState()).toMatchObject({ status: "signedOut", reason: "signedOut" });
    expect(await b.getAccessToken()).toBeNull();
  });

  it("signing in in one tab signs in the others with the shared token", async () => {
    const hub = channelHub();
    const empty = { "POST /v1/auth/refresh": () => json(401, { error: "invalid_grant", message: "x" }) };
    const a = track(client(fakeFetch({ ...empty, "POST /v1/auth/login": () => tokenPair() }).fetch, { createChannel: hub }));
    const b = track(client(fakeFetch(empty).fetch, { createChannel: hub }));
    await Promise.all([a.start(), b.start()]);
    await a.signIn("ada@example.com", "pw");
    await settle();
    expect(b.getState().status).toBe("signedIn");
    expect(await b.getAccessToken()).toBe(await a.getAccessToken());
  });

  it("tabs take turns: the second tab uses the token the first one shared instead of refreshing", async () => {
    const hub = channelHub();
    const locks = sharedLocks();
    let refreshes = 0;
    const fetchImpl = fakeFetch({
      "POST /v1/auth/refresh": async () => {
        refreshes += 1;
        await new Promise((r) => setTimeout(r, 10));
        return tokenPair();
      },
    }).fetch;
    const a = track(client(fetchImpl, { createChannel: hub, locks }));
    await a.start();
    const b = track(client(fetchImpl, { createChannel: hub, locks }));
    await b.start();
    expect(refreshes).toBe(2); // each tab restored once
    const stale = await a.getAccessToken();
    // Both tabs see the same token refused at once: the lock lets one refresh, the other reuses it.
    await settle();
    const [ta, tb] = await Promise.all([a.refreshAfter(stale), b.refreshAfter(await b.getAccessToken())]);
    expect(refreshes).toBe(3);
    expect(ta).toBe(tb);
  });
});

describe("refresh ahead of expiry", () => {
  it("refreshes from the token's exp, a quarter of the lifetime early for short tokens", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const api = fakeFetch({ "POST /v1/auth/refresh": () => tokenPair({}, 20) });
    const auth = track(client(api.fetch));
    await auth.start();
    expect(api.count("POST", "/v1/auth/refresh")).toBe(1);
    await vi.advanceTimersByTimeAsync(14_000);
    expect(api.count("POST", "/v1/auth/refresh")).toBe(1);
    await vi.advanceTimersByTimeAsync(1_500); // 15 s of 20: 5 s before exp
    expect(api.count("POST", "/v1/auth/refresh")).toBe(2);
    await vi.advanceTimersByTimeAsync(15_500);
    expect(api.count("POST", "/v1/auth/refresh")).toBe(3);
  });

  it("uses exp, not a fixed interval: a 15-minute token refreshes a minute early", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const api = fakeFetch({ "POST /v1/auth/refresh": () => tokenPair({}, 900) });
    const auth = track(client(api.fetch));
    await auth.start();
    await vi.advanceTimersByTimeAsync(838_000);
    expect(api.count("POST", "/v1/auth/refresh")).toBe(1);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(api.count("POST", "/v1/auth/refresh")).toBe(2);
  });
});

describe("MFA sign-in", () => {
  it("answers mfa_required, then signs in with the code and sends credentials", async () => {
    const api = fakeFetch({
      "POST /v1/auth/refresh": () => json(401, { error: "invalid_grant", message: "x" }),
      "POST /v1/auth/login": () => json(200, { mfa_required: true, mfa_token: "m1", expires_in: 300 }),
      "POST /v1/auth/login/mfa": ({ body }) =>
        (body as { code: string }).code === "123456" ? tokenPair({ amr: ["pwd", "mfa", "otp"] }) : json(401, { error: "invalid_code", message: "x" }),
    });
    const auth = track(client(api.fetch));
    await auth.start();
    const result = await auth.signIn("ada@example.com", "pw");
    expect(result).toEqual({ mfaRequired: true, mfaToken: "m1", expiresIn: 300 });
    expect(auth.getState().status).toBe("signedOut");
    const wrong = await auth.completeMfa("m1", "000000").catch((e: unknown) => e);
    expect(describeError(wrong)).toMatch(/code is not right/);
    await auth.completeMfa("m1", " 123456 ");
    expect(auth.getState().user?.amr).toEqual(["pwd", "mfa", "otp"]);
    expect(api.calls.filter((c) => c.path.startsWith("/v1/auth/login")).every((c) => c.credentials === "include")).toBe(true);
  });
});

describe("errors in words", () => {
  it("429 says when to try again", async () => {
    const api = fakeFetch({
      "POST /v1/auth/refresh": () => json(401, { error: "invalid_grant", message: "x" }),
      "POST /v1/auth/login": () => json(429, { error: "too_many_requests", message: "Too many attempts" }, { "Retry-After": "540" }),
    });
    const auth = track(client(api.fetch));
    await auth.start();
    const error = await auth.signIn("ada@example.com", "pw").catch((e: unknown) => e);
    expect(describeError(error)).toBe("Too many attempts. Try again in 9 minutes.");
  });

  it("an unreachable service and a non-JSON 502 read as sentences", async () => {
    const down = track(client((async () => Promise.reject(new TypeError("Failed to fetch"))) as typeof fetch));
    await down.start();
    const error = await down.signIn("a@b.c", "pw").catch((e: unknown) => e);
    expect(describeError(error)).toMatch(/^Could not reach the identity service\./);
    const html = await ApiError.fromResponse(new Response("<html>bad gateway</html>", { status: 502 }), "the backend");
    expect(describeError(html)).toBe("The backend had a problem. Try again in a moment.");
    expect(describeError(html)).not.toMatch(/[{<]/);
  });
});

it("makeToken builds tokens the kit can read", () => {
  const token = makeToken({ sub: "u" }, 20, 1_000_000);
  expect(token.split(".")).toHaveLength(3);
});
