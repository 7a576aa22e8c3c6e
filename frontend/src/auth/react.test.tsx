import { act, render, screen } from "@testing-library/react";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AuthProvider } from "./AuthProvider";
import { AuthClient } from "./client";
import { ProtectedRoute, RequirePermission } from "./guards";
import { openAuthedSocket, POLICY_VIOLATION } from "./socket";
import { fakeFetch, json, settle, tokenPair } from "./testing";

const clients: AuthClient[] = [];
afterEach(() => clients.splice(0).forEach((c) => c.dispose()));

function auth(routes: Parameters<typeof fakeFetch>[0]) {
  const api = fakeFetch(routes);
  const c = new AuthClient({ userServiceUrl: "http://us.test", fetch: api.fetch, locks: null, createChannel: () => null });
  clients.push(c);
  return { client: c, api };
}

function LoginProbe() {
  const location = useLocation();
  const state = location.state as { from?: { pathname: string; search: string }; reason?: string } | null;
  return (
    <p>
      login page, from {state?.from?.pathname}
      {state?.from?.search}, reason {String(state?.reason)}
    </p>
  );
}

describe("ProtectedRoute", () => {
  it("shows a status while restoring, then the page", async () => {
    const { client } = auth({ "POST /v1/auth/refresh": () => tokenPair() });
    render(
      <AuthProvider client={client}>
        <MemoryRouter initialEntries={["/secret"]}>
          <Routes>
            <Route path="/secret" element={<ProtectedRoute>secret page</ProtectedRoute>} />
          </Routes>
        </MemoryRouter>
      </AuthProvider>,
    );
    expect(screen.getByRole("status")).toHaveTextContent("Restoring your session");
    expect(await screen.findByText("secret page")).toBeInTheDocument();
  });

  it("sends a signed-out visitor to the login page, remembering the intended route", async () => {
    const { client } = auth({ "POST /v1/auth/refresh": () => json(401, { error: "invalid_grant", message: "x" }) });
    render(
      <AuthProvider client={client}>
        <MemoryRouter initialEntries={["/api-keys?tab=2"]}>
          <Routes>
            <Route path="/login" element={<LoginProbe />} />
            <Route path="/api-keys" element={<ProtectedRoute>keys</ProtectedRoute>} />
          </Routes>
        </MemoryRouter>
      </AuthProvider>,
    );
    expect(await screen.findByText("login page, from /api-keys?tab=2, reason null")).toBeInTheDocument();
  });

  it("a session that ends while on a page returns to login with the reason", async () => {
    let refreshes = 0;
    const { client } = auth({
      "POST /v1/auth/refresh": () => (++refreshes === 1 ? tokenPair() : json(401, { error: "invalid_grant", message: "x" })),
    });
    render(
      <AuthProvider client={client}>
        <MemoryRouter initialEntries={["/monitor"]}>
          <Routes>
            <Route path="/login" element={<LoginProbe />} />
            <Route path="/monitor" element={<ProtectedRoute>monitor</ProtectedRoute>} />
          </Routes>
        </MemoryRouter>
      </AuthProvider>,
    );
    await screen.findByText("monitor");
    await act(async () => {
      await client.refreshAfter(await client.getAccessToken());
    });
    expect(await screen.findByText("login page, from /monitor, reason sessionEnded")).toBeInTheDocument();
  });
});

describe("RequirePermission", () => {
  it("renders for holders of the permission (or a wildcard) and explains otherwise", async () => {
    const { client } = auth({ "POST /v1/auth/refresh": () => tokenPair({ permissions: ["alerts:*"] }) });
    render(
      <AuthProvider client={client}>
        <RequirePermission permission="alerts:write">can write</RequirePermission>
        <RequirePermission permission="admin:delete">can delete</RequirePermission>
      </AuthProvider>,
    );
    expect(await screen.findByText("can write")).toBeInTheDocument();
    expect(screen.queryByText("can delete")).toBeNull();
    expect(screen.getByRole("alert")).toHaveTextContent("You need the “admin:delete” permission");
  });
});

/** A WebSocket stand-in recording the protocols it was opened with. */
class FakeSocket {
  static opened: FakeSocket[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {
    FakeSocket.opened.push(this);
    queueMicrotask(() => this.onopen?.());
  }
  close() {}
}

describe("openAuthedSocket", () => {
  it("sends the token as a subprotocol and reconnects with a fresh token after a 1008 close", async () => {
    let refreshes = 0;
    const { client } = auth({ "POST /v1/auth/refresh": () => (++refreshes, tokenPair()) });
    await client.start();
    const first = await client.getAccessToken();
    const messages: string[] = [];
    const statuses: string[] = [];
    const stop = openAuthedSocket(client, "ws://ticker.test/ws/quotes", {
      onMessage: (d) => messages.push(d),
      onStatus: (s) => statuses.push(s),
      WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
    });
    await settle();
    const socket = FakeSocket.opened.at(-1)!;
    expect(socket.url).toBe("ws://ticker.test/ws/quotes");
    expect(socket.protocols).toEqual(["bearer", first]);
    socket.onmessage?.({ data: '{"type":"quote"}' });
    expect(messages).toEqual(['{"type":"quote"}']);

    socket.onclose?.({ code: POLICY_VIOLATION });
    await settle();
    const again = FakeSocket.opened.at(-1)!;
    expect(again).not.toBe(socket);
    expect(refreshes).toBe(2);
    expect(again.protocols[1]).toBe(await client.getAccessToken());
    expect(again.protocols[1]).not.toBe(first);
    expect(statuses).toEqual(["connecting", "open", "reconnecting", "open"]);
    stop();
  });

  it("backs off further after each application refusal (4409) and keeps the token", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    try {
      let refreshes = 0;
      const { client } = auth({ "POST /v1/auth/refresh": () => (++refreshes, tokenPair()) });
      await client.start();
      const token = await client.getAccessToken();
      const before = refreshes;
      const stop = openAuthedSocket(client, "ws://ticker.test/ws/quotes", {
        onMessage: () => undefined,
        WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
      });
      await vi.advanceTimersByTimeAsync(0);
      const delays: number[] = [];
      for (let i = 0; i < 4; i++) {
        const count = FakeSocket.opened.length;
        // The ticker accepts the upgrade, sends its error frame and closes with 4409.
        FakeSocket.opened.at(-1)!.onclose?.({ code: 4409 });
        let waited = 0;
        while (FakeSocket.opened.length === count && waited < 60_000) {
          await vi.advanceTimersByTimeAsync(250);
          waited += 250;
        }
        delays.push(waited);
      }
      expect(delays).toEqual([1000, 2000, 4000, 8000]);
      expect(FakeSocket.opened.at(-1)!.protocols[1]).toBe(token);
      expect(refreshes).toBe(before);
      stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
