import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it } from "vitest";
import { App } from "../App";
import { AuthClient, AuthProvider } from "../auth";
import { fakeFetch, json, tokenPair } from "../auth/testing";

const clients: AuthClient[] = [];
afterEach(() => clients.splice(0).forEach((c) => c.dispose()));

const me = (over: Record<string, unknown> = {}) =>
  json(200, {
    id: "u1",
    email: "ada@example.com",
    name: "Ada",
    roles: ["user"],
    permissions: ["positions:read", "alerts:read", "api_keys:manage"],
    status: "active",
    mfa_enabled: false,
    created_at: "2026-01-01T00:00:00Z",
    ...over,
  });

function renderAt(path: string, routes: Parameters<typeof fakeFetch>[0]) {
  const api = fakeFetch({
    "POST /v1/auth/refresh": () => tokenPair({ permissions: ["positions:read", "alerts:read", "api_keys:manage"] }),
    "GET /v1/users/me": () => me(),
    "GET /v1/users/me/sessions": () => json(200, { sessions: [] }),
    "GET /v1/users/me/accounts": () => json(200, { owned: [], shared: [] }),
    ...routes,
  });
  const client = new AuthClient({ userServiceUrl: "http://127.0.0.1:8011", fetch: api.fetch, locks: null, createChannel: () => null });
  clients.push(client);
  render(
    <AuthProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        <App />
      </MemoryRouter>
    </AuthProvider>,
  );
  return { api, user: userEvent.setup() };
}

describe("Security", () => {
  it("sets up TOTP with a local QR code and the secret, then shows the recovery codes once", async () => {
    let enabled = false;
    const { api, user } = renderAt("/security", {
      "GET /v1/users/me": () => me({ mfa_enabled: enabled, recovery_codes_remaining: enabled ? 10 : null }),
      "POST /v1/users/me/mfa/totp/setup": () => json(200, { secret: "JBSWY3DPEHPK3PXP", otpauth_uri: "otpauth://totp/authgate:ada?secret=JBSWY3DPEHPK3PXP" }),
      "POST /v1/users/me/mfa/totp/enable": () => {
        enabled = true;
        return json(200, { recovery_codes: ["aaaa-bbbb-cccc-dddd", "eeee-ffff-gggg-hhhh"] });
      },
    });
    await user.click(await screen.findByRole("button", { name: "Enable two-factor authentication" }));
    const qr = await screen.findByRole("img", { name: "QR code for your authenticator app" });
    expect(qr.getAttribute("src")).toMatch(/^data:image\/svg\+xml;utf8,/);
    expect(screen.getByLabelText("Secret key")).toHaveTextContent("JBSWY3DPEHPK3PXP");
    await user.type(screen.getByLabelText("Authentication code"), "123456");
    await user.click(screen.getByRole("button", { name: "Confirm and turn on" }));
    const codes = await screen.findByRole("list", { name: "Recovery codes" });
    expect(within(codes).getAllByRole("listitem").map((li) => li.textContent)).toEqual(["aaaa-bbbb-cccc-dddd", "eeee-ffff-gggg-hhhh"]);
    expect(screen.getByRole("button", { name: "Copy recovery codes" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Download recovery codes" })).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "I have saved my recovery codes" }));
    expect(screen.queryByRole("list", { name: "Recovery codes" })).toBeNull();
    expect(await screen.findByText(/Two-factor authentication is on. 10 recovery codes left./)).toBeInTheDocument();
    expect(api.calls.find((c) => c.path === "/v1/users/me/mfa/totp/enable")?.body).toEqual({ code: "123456" });
  });

  it("disables MFA with the password and a code", async () => {
    let enabled = true;
    const { api, user } = renderAt("/security", {
      "GET /v1/users/me": () => me({ mfa_enabled: enabled, recovery_codes_remaining: 3 }),
      "POST /v1/users/me/mfa/totp/disable": () => {
        enabled = false;
        return new Response(null, { status: 204 });
      },
    });
    await user.type(await screen.findByLabelText("Password"), "correct horse battery");
    await user.type(screen.getByLabelText("Authentication code"), "654321");
    await user.click(screen.getByRole("button", { name: "Disable two-factor authentication" }));
    expect(await screen.findByRole("button", { name: "Enable two-factor authentication" })).toBeInTheDocument();
    expect(api.calls.find((c) => c.path === "/v1/users/me/mfa/totp/disable")?.body).toEqual({ password: "correct horse battery", code: "654321" });
  });

  it("lists sessions, revokes another one, and changes the password", async () => {
    let sessions = [
      { id: "s1", created_at: "2026-01-01T00:00:00Z", last_used_at: "2026-01-01T00:00:00Z", ip: "127.0.0.1", user_agent: "Chrome/1", amr: ["pwd"], current: true },
      { id: "s2", created_at: "2026-01-01T00:00:00Z", last_used_at: "2026-01-01T00:00:00Z", ip: "10.0.0.9", user_agent: "Firefox/2", amr: ["pwd"], current: false },
    ];
    const { api, user } = renderAt("/security", {
      "GET /v1/users/me/sessions": () => json(200, { sessions }),
      "DELETE /v1/users/me/sessions/s2": () => {
        sessions = sessions.slice(0, 1);
        return new Response(null, { status: 204 });
      },
      "POST /v1/users/me/password": () => new Response(null, { status: 204 }),
    });
    expect(await screen.findByText("This session")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Revoke session 2" }));
    await screen.findByText("This session");
    expect(screen.queryByText("Firefox/2")).toBeNull();
    await user.type(screen.getByLabelText("Current password"), "old passphrase here");
    await user.type(screen.getByLabelText("New password"), "new passphrase here");
    await user.click(screen.getByRole("button", { name: "Change password" }));
    expect(await screen.findByText(/Your password is changed/)).toBeInTheDocument();
    expect(api.calls.find((c) => c.path === "/v1/users/me/password")?.body).toEqual({ current_password: "old passphrase here", new_password: "new passphrase here" });
  });

  it("sign out everywhere ends the session here too", async () => {
    const { api, user } = renderAt("/security", { "POST /v1/auth/logout-all": () => new Response(null, { status: 204 }) });
    await user.click(await screen.findByRole("button", { name: "Sign out everywhere" }));
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
    const call = api.calls.find((c) => c.path === "/v1/auth/logout-all");
    expect(call?.headers.get("Authorization")).toMatch(/^Bearer /);
    expect(call?.credentials).toBe("include");
  });
});

describe("API keys", () => {
  it("creates a key with a subset of the permissions and shows it once", async () => {
    let keys: unknown[] = [];
    const { api, user } = renderAt("/api-keys", {
      "GET /v1/api-keys": () => json(200, { api_keys: keys }),
      "POST /v1/api-keys": ({ body }) => {
        const k = { id: "k1", name: "bot", prefix: "ak_test_AbCd", permissions: (body as { permissions: string[] }).permissions, status: "active", created_at: "2026-01-01T00:00:00Z" };
        keys = [k];
        return json(201, { ...k, key: "ak_test_AbCdEfGhIjKlMnOpQrStUvWxYz012345" });
      },
    });
    await user.type(await screen.findByLabelText("Key name"), "bot");
    await user.click(screen.getByRole("checkbox", { name: "alerts:read" }));
    await user.click(screen.getByRole("button", { name: "Create API key" }));
    expect(await screen.findByLabelText("New API key")).toHaveTextContent("ak_test_AbCdEfGhIjKlMnOpQrStUvWxYz012345");
    expect(screen.getByRole("button", { name: "Copy key" })).toBeInTheDocument();
    expect(api.calls.find((c) => c.method === "POST" && c.path === "/v1/api-keys")?.body).toEqual({ name: "bot", permissions: ["positions:read", "api_keys:manage"] });
    await user.click(screen.getByRole("button", { name: "Done" }));
    expect(screen.queryByText(/ak_test_AbCdEfGh/)).toBeNull();
    expect(screen.getByRole("row", { name: /bot/ })).toHaveTextContent("ak_test_AbCd…");
  });
});

describe("Trading accounts", () => {
  it("links a Kite account and shows only masked credentials", async () => {
    let accounts: unknown[] = [];
    const { api, user } = renderAt("/trading-accounts", {
      "GET /v1/trading-accounts": () => json(200, { trading_accounts: accounts }),
      "POST /v1/trading-accounts": () => {
        accounts = [
          { id: "a1", broker: "kite", label: "Main", broker_user_id: "AB1", subscription_tier: "free", role: "owner", credentials: { api_key: "****6789", api_secret: "****8765", access_token: null }, created_at: "2026-01-01T00:00:00Z" },
        ];
        return json(201, accounts[0]);
      },
      "GET /v1/trading-accounts/a1/members": () => json(200, { members: [{ user_id: "u1", email: "ada@example.com", name: "Ada", role: "owner", added_at: "x" }] }),
    });
    await user.type(await screen.findByLabelText("Label"), "Main");
    await user.type(screen.getByLabelText("Kite user ID"), "AB1");
    await user.type(screen.getByLabelText("Kite API key"), "kiteapikey0123456789");
    await user.type(screen.getByLabelText("Kite API secret"), "kitesecretvalue98765");
    await user.click(screen.getByRole("button", { name: "Link account" }));
    const card = await screen.findByRole("article", { name: "Account Main" });
    expect(within(card).getByText("****8765")).toBeInTheDocument();
    expect(await within(card).findByRole("list", { name: "Members of Main" })).toHaveTextContent("Ada <ada@example.com>: owner");
    expect(api.calls.find((c) => c.method === "POST" && c.path === "/v1/trading-accounts")?.body).toEqual({
      broker: "kite",
      label: "Main",
      broker_user_id: "AB1",
      credentials: { api_key: "kiteapikey0123456789", api_secret: "kitesecretvalue98765", access_token: null },
    });
  });
});
