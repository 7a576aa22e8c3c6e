import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { App } from "../App";
import { AuthClient, AuthProvider } from "../auth";
import { fakeFetch, json, tokenPair } from "../auth/testing";

const clients: AuthClient[] = [];
afterEach(() => clients.splice(0).forEach((c) => c.dispose()));

const signedOut = { "POST /v1/auth/refresh": () => json(401, { error: "invalid_grant", message: "x" }) };

function renderApp(path: string, routes: Parameters<typeof fakeFetch>[0]) {
  const api = fakeFetch({ ...signedOut, ...routes });
  const client = new AuthClient({ userServiceUrl: "http://127.0.0.1:8011", fetch: api.fetch, locks: null, createChannel: () => null });
  clients.push(client);
  render(
    <AuthProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        <App />
      </MemoryRouter>
    </AuthProvider>,
  );
  return { api, client, user: userEvent.setup() };
}

const monitorRoutes = {
  "GET /api/positions": () => json(200, { positions: [{ symbol: "ACME", quantity: 100 }] }),
  "GET /alerts": () => json(200, []),
};

describe("Login", () => {
  it("takes the MFA branch: password, then the authentication code, then the intended page", async () => {
    const { api, user } = renderApp("/login", {
      ...monitorRoutes,
      "POST /v1/auth/login": () => json(200, { mfa_required: true, mfa_token: "mfa-1", expires_in: 300 }),
      "POST /v1/auth/login/mfa": ({ body }) =>
        (body as { code: string }).code === "123456" ? tokenPair() : json(401, { error: "invalid_code", message: "The code is not valid" }),
    });
    await user.type(await screen.findByLabelText("Email"), "ada@example.com");
    await user.type(screen.getByLabelText("Password"), "correct horse battery");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    const code = await screen.findByLabelText("Authentication code");
    await user.type(code, "000000");
    await user.click(screen.getByRole("button", { name: "Verify" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("That code is not right.");
    await user.clear(code);
    await user.type(code, "123456");
    await user.click(screen.getByRole("button", { name: "Verify" }));
    expect(await screen.findByRole("heading", { name: "Monitor" })).toBeInTheDocument();
    const mfa = api.calls.filter((c) => c.path === "/v1/auth/login/mfa").at(-1);
    expect(mfa?.body).toEqual({ mfa_token: "mfa-1", code: "123456" });
  });

  it("accepts a recovery code instead", async () => {
    const { api, user } = renderApp("/login", {
      ...monitorRoutes,
      "POST /v1/auth/login": () => json(200, { mfa_required: true, mfa_token: "mfa-2", expires_in: 300 }),
      "POST /v1/auth/login/mfa": () => tokenPair(),
    });
    await user.type(await screen.findByLabelText("Email"), "ada@example.com");
    await user.type(screen.getByLabelText("Password"), "correct horse battery");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    await user.click(await screen.findByRole("button", { name: "Use a recovery code instead" }));
    await user.type(screen.getByLabelText("Recovery code"), "abcd-efgh-ijkl-mnop");
    await user.click(screen.getByRole("button", { name: "Verify" }));
    await screen.findByRole("heading", { name: "Monitor" });
    expect(api.calls.find((c) => c.path === "/v1/auth/login/mfa")?.body).toEqual({ mfa_token: "mfa-2", code: "abcd-efgh-ijkl-mnop" });
  });

  it("an expired MFA step goes back to the password with an explanation", async () => {
    const { user } = renderApp("/login", {
      "POST /v1/auth/login": () => json(200, { mfa_required: true, mfa_token: "old", expires_in: 300 }),
      "POST /v1/auth/login/mfa": () => json(401, { error: "invalid_mfa_token", message: "x" }),
    });
    await user.type(await screen.findByLabelText("Email"), "ada@example.com");
    await user.type(screen.getByLabelText("Password"), "pw-pw-pw-pw-pw");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    await user.type(await screen.findByLabelText("Authentication code"), "123456");
    await user.click(screen.getByRole("button", { name: "Verify" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("This sign-in attempt has expired. Sign in again.");
    expect(screen.getByLabelText("Password")).toBeInTheDocument();
  });

  it("says when to try again after too many attempts, not JSON", async () => {
    const { user } = renderApp("/login", {
      "POST /v1/auth/login": () => json(429, { error: "too_many_requests", message: "Too many attempts" }, { "Retry-After": "75" }),
    });
    await user.type(await screen.findByLabelText("Email"), "ada@example.com");
    await user.type(screen.getByLabelText("Password"), "wrong");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Too many attempts. Try again in 2 minutes.");
    expect(alert.textContent).not.toMatch(/[{}"]/);
  });
});

describe("Register", () => {
  it("shows the password rules live, from the policy endpoint when it exists", async () => {
    const { user } = renderApp("/register", { "GET /v1/auth/password-policy": () => json(200, { min_length: 14, max_length: 128 }) });
    const password = await screen.findByLabelText("Password");
    await screen.findByText(/At least 14 characters/);
    await user.type(password, "short");
    expect(screen.getByText(/At least 14 characters/)).toHaveTextContent("(not met yet)");
    await user.type(password, " but long now");
    expect(screen.getByText(/At least 14 characters/)).toHaveTextContent("(met)");
  });

  it("falls back to the dev rules and learns from a 400 weak_password answer", async () => {
    const { user } = renderApp("/register", {
      "POST /v1/auth/register": () => json(400, { error: "weak_password", message: "The password must have at least 16 characters" }),
    });
    await screen.findByText(/At least 12 characters/);
    await user.type(screen.getByLabelText("Email"), "ada@example.com");
    await user.type(screen.getByLabelText("Password"), "thirteen chars");
    await user.click(screen.getByRole("button", { name: "Create account" }));
    expect(await screen.findByText("The password must have at least 16 characters.")).toBeInTheDocument();
    expect(screen.getByText(/At least 16 characters/)).toHaveTextContent("(not met yet)");
  });

  it("creates the account and hands over to sign-in", async () => {
    const { api, user } = renderApp("/register", { "POST /v1/auth/register": () => json(201, { id: "u1" }) });
    await user.type(await screen.findByLabelText("Name"), "Ada");
    await user.type(screen.getByLabelText("Email"), "ada@example.com");
    await user.type(screen.getByLabelText("Password"), "correct horse battery");
    await user.click(screen.getByRole("button", { name: "Create account" }));
    expect(await screen.findByText("Your account is ready. Sign in to continue.")).toBeInTheDocument();
    expect(screen.getByLabelText("Email")).toHaveValue("ada@example.com");
    expect(api.calls.find((c) => c.path === "/v1/auth/register")?.body).toEqual({ name: "Ada", email: "ada@example.com", password: "correct horse battery" });
  });
});

describe("Reset password and email verification links", () => {
  it("the reset link's token sets the new password", async () => {
    const { api, user } = renderApp("/reset-password?token=tok123", { "POST /v1/auth/password/reset": () => json(200, { status: "password_reset" }) });
    await user.type(await screen.findByLabelText("New password"), "a brand new passphrase");
    await user.click(screen.getByRole("button", { name: "Set new password" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Your new password is set");
    expect(api.calls.find((c) => c.path === "/v1/auth/password/reset")?.body).toEqual({ token: "tok123", new_password: "a brand new passphrase" });
  });

  it("verifies an email with POST /v1/auth/email/verify {token}", async () => {
    const { api, user } = renderApp("/verify-email?token=v-1", { "POST /v1/auth/email/verify": () => json(200, { status: "email_verified" }) });
    await user.click(await screen.findByRole("button", { name: "Verify email address" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Your email address is verified.");
    expect(api.calls.find((c) => c.path === "/v1/auth/email/verify")?.body).toEqual({ token: "v-1" });
  });

  it("explains an invalid verification link, and a service without verification", async () => {
    const first = renderApp("/verify-email?token=bad", {
      "POST /v1/auth/email/verify": () => json(400, { error: "invalid_verification_token", message: "x" }),
    });
    await first.user.click(await screen.findByRole("button", { name: "Verify email address" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("This verification link is invalid, already used or expired.");
  });

  it("says so when user-service does not verify emails yet (404)", async () => {
    const { user } = renderApp("/verify-email?token=t", {});
    await user.click(await screen.findByRole("button", { name: "Verify email address" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("does not verify email addresses yet");
  });
});

describe("Login of an unverified account", () => {
  const refused = { "POST /v1/auth/login": () => json(403, { error: "email_not_verified", message: "x" }) };

  async function signInUnverified(routes: Parameters<typeof fakeFetch>[0]) {
    const app = renderApp("/login", { ...refused, ...routes });
    await app.user.type(await screen.findByLabelText("Email"), "ada@example.com");
    await app.user.type(screen.getByLabelText("Password"), "correct horse battery");
    await app.user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Your email address is not verified yet.");
    return app;
  }

  it("says the address is not verified and sends the link again for {email}", async () => {
    const { api, user } = await signInUnverified({
      "POST /v1/auth/email/verify/resend": () => json(202, { status: "accepted", message: "x" }),
    });
    await user.click(screen.getByRole("button", { name: "Send the link again" }));
    expect(await screen.findByRole("status")).toHaveTextContent("If the address has an account, a new link is on its way.");
    expect(api.calls.find((c) => c.path === "/v1/auth/email/verify/resend")?.body).toEqual({ email: "ada@example.com" });
  });

  it("a throttled resend (429) says when to try again", async () => {
    const { user } = await signInUnverified({
      "POST /v1/auth/email/verify/resend": () => json(429, { error: "too_many_requests", message: "x" }, { "Retry-After": "600" }),
    });
    await user.click(screen.getByRole("button", { name: "Send the link again" }));
    await waitFor(() => expect(screen.getAllByRole("alert").at(-1)).toHaveTextContent("Too many attempts. Try again in 10 minutes."));
    expect(screen.queryByText(/a new link is on its way/)).not.toBeInTheDocument();
  });
});

describe("Profile", () => {
  it("flags an unverified email from the email_verified claim", async () => {
    renderApp("/profile", {
      "POST /v1/auth/refresh": () => tokenPair({ email_verified: false }),
      "GET /v1/users/me": () =>
        json(200, { id: "u", email: "ada@example.com", name: "Ada", roles: ["user"], permissions: [], status: "active", mfa_enabled: false, created_at: "2026-01-01T00:00:00Z" }),
    });
    expect(await screen.findByText(/not verified/)).toBeInTheDocument();
    await waitFor(() => expect(screen.getByLabelText("Name")).toHaveValue("Ada"));
  });

  const unverifiedMe = () =>
    json(200, { id: "u", email: "ada@example.com", name: "Ada", roles: ["user"], permissions: [], status: "active", mfa_enabled: false, email_verified: false, created_at: "2026-01-01T00:00:00Z" });

  it("sends the verification link again for the signed-in user", async () => {
    const { api, user } = renderApp("/profile", {
      "POST /v1/auth/refresh": () => tokenPair({ email_verified: false }),
      "GET /v1/users/me": unverifiedMe,
      "POST /v1/auth/email/verify/resend": () => json(202, { status: "accepted", message: "x" }),
    });
    await user.click(await screen.findByRole("button", { name: "Send the verification link again" }));
    expect(await screen.findByText("A new link is on its way. Open it to verify your email address.")).toBeInTheDocument();
    const resend = api.calls.find((c) => c.path === "/v1/auth/email/verify/resend");
    expect(resend?.body).toBeUndefined();
    expect(resend?.headers.get("Authorization")).toMatch(/^Bearer /);
  });

  it("a throttled resend on the profile says when to try again", async () => {
    const { user } = renderApp("/profile", {
      "POST /v1/auth/refresh": () => tokenPair({ email_verified: false }),
      "GET /v1/users/me": unverifiedMe,
      "POST /v1/auth/email/verify/resend": () => json(429, { error: "too_many_requests", message: "x" }, { "Retry-After": "45" }),
    });
    await user.click(await screen.findByRole("button", { name: "Send the verification link again" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Too many attempts. Try again in 45 seconds.");
  });

  it("offers no resend once the address is verified", async () => {
    renderApp("/profile", {
      "POST /v1/auth/refresh": () => tokenPair({ email_verified: true }),
      "GET /v1/users/me": () =>
        json(200, { id: "u", email: "ada@example.com", name: "Ada", roles: ["user"], permissions: [], status: "active", mfa_enabled: false, email_verified: true, created_at: "2026-01-01T00:00:00Z" }),
    });
    expect(await screen.findByText("verified")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Send the verification link again" })).not.toBeInTheDocument();
  });
});

/** A WebSocket that plays the ticker's `frames`, then closes with `code` (if any). */
function tickerSocket(frames: unknown[], code?: number) {
  return class {
    onopen: (() => void) | null = null;
    onmessage: ((e: { data: string }) => void) | null = null;
    onclose: ((e: { code: number }) => void) | null = null;
    constructor() {
      queueMicrotask(() => {
        this.onopen?.();
        for (const f of frames) this.onmessage?.({ data: JSON.stringify(f) });
        if (code) this.onclose?.({ code });
      });
    }
    close() {}
  };
}

describe("Monitor", () => {
  afterEach(() => vi.unstubAllGlobals());
  const signedIn = { ...monitorRoutes, "POST /v1/auth/refresh": () => tokenPair() };

  it("says in words why the ticker refused the subscription", async () => {
    const refusal = {
      type: "error",
      status: 409,
      error: "no_trading_account",
      message: "No trading account is linked to your login. Link one to receive quotes.",
    };
    vi.stubGlobal("WebSocket", tickerSocket([refusal], 4409));
    renderApp("/", signedIn);
    const quotes = await screen.findByRole("region", { name: "Live quotes" });
    expect(await within(quotes).findByRole("alert")).toHaveTextContent("No trading account is linked to your login.");
  });

  it("names the account it streams for, then shows quotes", async () => {
    const subscribed = { type: "subscribed", account: { id: "a1", label: "Main", broker_user_id: "AB1234" }, api_key: "****6789" };
    const quote = { type: "quote", symbol: "ACME", bid: 101.5, ask: 101.55, ts: 0 };
    vi.stubGlobal("WebSocket", tickerSocket([subscribed, quote]));
    renderApp("/", signedIn);
    expect(await screen.findByText("For trading account Main (AB1234), API key ****6789")).toBeInTheDocument();
    expect(await screen.findByRole("row", { name: /ACME\s*101.50/ })).toBeInTheDocument();
  });
});
