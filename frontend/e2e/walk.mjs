// The browser walk of issue 13, end to end: real user-service (fresh SQLite file),
// example-backend, example-ticker, example-alert, the built frontend under `vite preview`,
// and Debian's Chromium driven by playwright-core. Run: `npm run test:e2e`.
//
// Binaries: $AUTHGATE_BIN_DIR, else the newer of release/ and debug/ in $CARGO_TARGET_DIR
// (default: the repository's target/) for each.
// Output (screenshots, service logs): $E2E_OUTPUT or frontend/e2e-output/.

import { spawn, spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, openSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const FRONTEND = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ROOT = resolve(FRONTEND, "..");
const OUT = resolve(process.env.E2E_OUTPUT ?? join(FRONTEND, "e2e-output"));
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const TTL = 20; // ACCESS_TOKEN_TTL_SECS for the whole walk
const LEEWAY = 1; // JWT_LEEWAY_SECS of the three verifying services

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const work = mkdtempSync(join(tmpdir(), "authgate-e2e-"));
const children = [];

// ---- plumbing -------------------------------------------------------------------------

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

function binary(name) {
  if (process.env.AUTHGATE_BIN_DIR) return join(process.env.AUTHGATE_BIN_DIR, name);
  const found = ["release", "debug"]
    .map((p) => join(process.env.CARGO_TARGET_DIR ?? join(ROOT, "target"), p, name))
    .filter((p) => existsSync(p))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (!found[0]) throw new Error(`${name} not built: run cargo build -p ${name}`);
  return found[0];
}

function start(name, command, args, env, cwd = work) {
  const log = openSync(join(OUT, `${name}.log`), "w");
  const child = spawn(command, args, { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ["ignore", log, log] });
  child.on("exit", (code, signal) => {
    if (!stopping) console.error(`${name} exited early (code ${code}, signal ${signal}); see ${join(OUT, `${name}.log`)}`);
  });
  children.push(child);
  return child;
}

async function waitFor(url, what, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > until) throw new Error(`${what} did not answer ${url} within ${timeoutMs / 1000}s`);
    await sleep(200);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let stopping = false;
function stopAll() {
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
}
process.on("SIGINT", () => {
  stopAll();
  process.exit(130);
});

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s), from the secret the Security page shows.
function base32(secret) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = createHmac("sha1", base32(secret)).update(counter).digest();
  const o = h[h.length - 1] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}
const nowStep = () => Math.floor(Date.now() / 30_000);
let lastStep = 0;
/** A code for a step the service has not seen: each step is accepted once (I15). */
async function nextCode(secret) {
  let step = Math.max(lastStep + 1, nowStep() - 1);
  while (step > nowStep() + 1) {
    await sleep(1000);
    step = Math.max(lastStep + 1, nowStep() - 1);
  }
  lastStep = step;
  return totp(secret, step);
}

// ---- the services ---------------------------------------------------------------------

const [usPort, backendPort, tickerPort, alertPort, webPort] = await Promise.all(Array.from({ length: 5 }, freePort));
const US = `http://127.0.0.1:${usPort}`;
const WEB = `http://127.0.0.1:${webPort}`;
const services = {
  VITE_USER_SERVICE_URL: US,
  VITE_BACKEND_URL: `http://127.0.0.1:${backendPort}`,
  VITE_TICKER_URL: `ws://127.0.0.1:${tickerPort}`,
  VITE_ALERT_URL: `http://127.0.0.1:${alertPort}`,
};
const verifierEnv = { USER_SERVICE_URL: US, JWT_ISSUER: US, JWT_LEEWAY_SECS: String(LEEWAY), RUST_LOG: "info" };

let results = { passed: 0, failed: 0 };
let browserA;
let browserB;

try {
  const userServiceEnv = {
    APP_ENV: "dev",
    USER_SERVICE_PORT: String(usPort),
    USER_SERVICE_ENV_DIR: work,
    DATABASE_URL: `sqlite://${join(work, "users.db")}?mode=rwc`,
    // Mail links open the frontend, and its origin is the CORS default.
    FRONTEND_URL: WEB,
    ACCESS_TOKEN_TTL_SECS: String(TTL),
    LOG_LEVEL: "info",
  };
  start("user-service", binary("user-service"), [], userServiceEnv);
  await waitFor(`${US}/health`, "user-service");
  // The ticker reads broker credentials as a service client: registered the way the
  // compose file does it (deploy/scripts/create-ticker-client.sh), handed over in files.
  const clientDir = join(work, "ticker-client");
  mkdirSync(clientDir);
  const created = spawnSync("sh", [join(ROOT, "deploy", "scripts", "create-ticker-client.sh")], {
    cwd: work,
    env: { PATH: `${dirname(binary("user-service"))}:${process.env.PATH}`, HOME: process.env.HOME, ...userServiceEnv, TICKER_CLIENT_DIR: clientDir },
    encoding: "utf8",
  });
  if (created.status !== 0) throw new Error(`registering the ticker's service client failed:\n${created.stdout}\n${created.stderr}`);
  start("example-backend", binary("example-backend"), [], { ...verifierEnv, PORT: String(backendPort), CORS_ALLOWED_ORIGINS: WEB });
  start("example-ticker", binary("example-ticker"), [], {
    ...verifierEnv,
    PORT: String(tickerPort),
    WS_ALLOWED_ORIGINS: WEB,
    SERVICE_CLIENT_ID_FILE: join(clientDir, "client_id"),
    SERVICE_CLIENT_SECRET_FILE: join(clientDir, "client_secret"),
  });
  start("example-alert", binary("example-alert"), [], { ...verifierEnv, PORT: String(alertPort), CORS_ALLOWED_ORIGINS: WEB });

  // The frontend, built for these ports (its CSP names them), served by `vite preview`.
  const vite = join(FRONTEND, "node_modules", ".bin", "vite");
  const build = spawnSync(vite, ["build", "--outDir", "dist-e2e", "--emptyOutDir", "--logLevel", "warn"], {
    cwd: FRONTEND,
    env: { ...process.env, ...services },
    encoding: "utf8",
  });
  if (build.status !== 0) throw new Error(`vite build failed:\n${build.stdout}\n${build.stderr}`);
  start("vite-preview", vite, ["preview", "--outDir", "dist-e2e", "--port", String(webPort), "--strictPort"], { ...services }, FRONTEND);

  await Promise.all([
    waitFor(`${services.VITE_BACKEND_URL}/ready`, "example-backend"),
    waitFor(`http://127.0.0.1:${tickerPort}/ready`, "example-ticker"),
    waitFor(`${services.VITE_ALERT_URL}/health`, "example-alert"),
    waitFor(WEB, "vite preview"),
  ]);

  // ---- the browser ----------------------------------------------------------------------

  const launch = () =>
    chromium.launchPersistentContext(mkdtempSync(join(work, "profile-")), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1200, height: 900 },
    });
  browserA = await launch();
  const problems = [];
  const refreshCalls = [];
  const watch = (ctx, label) => {
    ctx.on("request", (r) => {
      if (r.url() === `${US}/v1/auth/refresh`) refreshCalls.push({ at: Date.now(), label });
    });
    ctx.on("console", (m) => {
      if (m.type() === "error" && /Content Security Policy/i.test(m.text())) problems.push(`${label}: ${m.text()}`);
    });
  };
  watch(browserA, "A");
  const page = browserA.pages()[0] ?? (await browserA.newPage());

  let shot = 0;
  const screenshot = async (p, name) => {
    shot += 1;
    await p.screenshot({ path: join(OUT, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
  };
  const heading = (p, name) => p.getByRole("heading", { name, level: 1 }).waitFor();
  const noStoredTokens = async (p) => {
    const stored = await p.evaluate(() => globalThis.localStorage.length + globalThis.sessionStorage.length + globalThis.document.cookie.length);
    if (stored !== 0) throw new Error("something was written to Web Storage or a readable cookie");
  };

  const email = `ada-${Date.now()}@example.com`;
  let password = "correct horse battery";
  let secret = "";
  let recoveryCodes = [];
  let signedInAt = 0;

  const signIn = async (p, mode) => {
    await p.getByLabel("Email", { exact: true }).fill(email);
    await p.getByLabel("Password", { exact: true }).fill(password);
    await p.getByRole("button", { name: "Sign in", exact: true }).click();
    if (mode === "code") {
      await p.getByLabel("Authentication code", { exact: true }).fill(await nextCode(secret));
      await p.getByRole("button", { name: "Verify", exact: true }).click();
    } else if (mode === "recovery") {
      await p.getByRole("button", { name: "Use a recovery code instead", exact: true }).click();
      await p.getByLabel("Recovery code", { exact: true }).fill(recoveryCodes.pop());
      await p.getByRole("button", { name: "Verify", exact: true }).click();
    }
    await heading(p, "Monitor");
  };

  const steps = [
    ["register", async () => {
      await page.goto(`${WEB}/register`);
      await heading(page, "Create an account");
      await page.getByLabel("Name", { exact: true }).fill("Ada Lovelace");
      await page.getByLabel("Email", { exact: true }).fill(email);
      await page.getByLabel("Password", { exact: true }).fill("short");
      await page.getByText("At least 12 characters (not met yet)").waitFor();
      await page.getByLabel("Password", { exact: true }).fill(password);
      await page.getByText("At least 12 characters (met)").waitFor();
      await screenshot(page, "register");
      await page.getByRole("button", { name: "Create account", exact: true }).click();
      await page.getByText("Your account is ready. Sign in to continue.").waitFor();
    }],
    ["sign in", async () => {
      await screenshot(page, "login");
      await signIn(page, "password");
      await noStoredTokens(page);
      // No trading account yet: the ticker refuses the subscription (409) and says why.
      await page.getByRole("region", { name: "Live quotes" }).getByRole("alert").getByText("No trading account is linked to your login.").waitFor();
    }],
    ["enable TOTP with the shown secret", async () => {
      await page.getByRole("link", { name: "Security", exact: true }).click();
      await heading(page, "Security");
      await page.getByRole("button", { name: "Enable two-factor authentication", exact: true }).click();
      await page.getByRole("img", { name: "QR code for your authenticator app" }).waitFor();
      secret = (await page.getByLabel("Secret key", { exact: true }).textContent()).trim();
      await screenshot(page, "security");
      const step = nowStep();
      lastStep = step;
      await page.getByLabel("Authentication code", { exact: true }).fill(totp(secret, step));
      await page.getByRole("button", { name: "Confirm and turn on", exact: true }).click();
      const list = page.getByRole("list", { name: "Recovery codes" });
      await list.waitFor();
      recoveryCodes = (await list.getByRole("listitem").allTextContents()).map((c) => c.trim());
      if (recoveryCodes.length !== 10) throw new Error(`expected 10 recovery codes, got ${recoveryCodes.length}`);
      await page.getByRole("button", { name: "Download recovery codes", exact: true }).waitFor();
      await screenshot(page, "security-recovery-codes");
      await page.getByRole("button", { name: "I have saved my recovery codes", exact: true }).click();
      await page.getByText("Two-factor authentication is on.").waitFor();
      if ((await page.getByRole("list", { name: "Recovery codes" }).count()) !== 0) throw new Error("recovery codes shown twice");
    }],
    ["sign out", async () => {
      await page.getByRole("button", { name: "Sign out", exact: true }).click();
      await heading(page, "Sign in");
    }],
    ["sign in with an authentication code", async () => {
      await page.getByLabel("Email", { exact: true }).fill(email);
      await page.getByLabel("Password", { exact: true }).fill(password);
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      await page.getByLabel("Authentication code", { exact: true }).waitFor();
      await screenshot(page, "login-mfa");
      await page.getByLabel("Authentication code", { exact: true }).fill(await nextCode(secret));
      await page.getByRole("button", { name: "Verify", exact: true }).click();
      await heading(page, "Monitor");
    }],
    ["create an API key and see it once", async () => {
      await page.getByRole("link", { name: "API keys", exact: true }).click();
      await heading(page, "API keys");
      await page.getByLabel("Key name", { exact: true }).fill("my bot");
      for (const p of ["alerts:read", "alerts:write", "api_keys:manage", "trading_accounts:read", "trading_accounts:write"]) {
        const box = page.getByRole("checkbox", { name: p });
        if (await box.count()) await box.uncheck();
      }
      await page.getByRole("button", { name: "Create API key", exact: true }).click();
      const key = (await page.getByLabel("New API key", { exact: true }).textContent()).trim();
      if (!/^ak_test_/.test(key)) throw new Error(`unexpected key ${key}`);
      await page.getByRole("button", { name: "Copy key", exact: true }).waitFor();
      await screenshot(page, "api-keys");
      const res = await fetch(`${services.VITE_BACKEND_URL}/api/positions`, { headers: { "X-API-Key": key } });
      if (res.status !== 200) throw new Error(`the new key got ${res.status} from the backend`);
      await page.getByRole("button", { name: "Done", exact: true }).click();
      await page.getByRole("row", { name: /my bot/ }).waitFor();
      if ((await page.content()).includes(key)) throw new Error("the key is still on the page");
      await page.getByRole("button", { name: "Usage of my bot", exact: true }).click();
      await page.getByRole("table", { name: "Recent uses" }).or(page.getByText("No recorded use yet")).first().waitFor();
      await page.getByRole("button", { name: "Rotate my bot", exact: true }).click();
      const rotated = (await page.getByLabel("New API key", { exact: true }).textContent()).trim();
      if (rotated === key || !rotated.startsWith("ak_test_")) throw new Error("rotation did not show a new key");
      await page.getByRole("button", { name: "Done", exact: true }).click();
      await page.getByRole("button", { name: "Revoke my bot", exact: true }).click();
      // Rotation revoked the old key; now the new one is revoked too: no active "my bot" left.
      await page.getByRole("button", { name: "Revoke my bot", exact: true }).waitFor({ state: "detached" });
      const rows = await page.getByRole("row", { name: /my bot/ }).allTextContents();
      if (rows.length !== 2 || !rows.every((r) => r.includes("revoked"))) throw new Error(`key rows: ${rows}`);
    }],
    ["link a trading account, members and roles", async () => {
      const other = `grace-${Date.now()}@example.com`;
      await fetch(`${US}/v1/auth/register`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email: other, password: "another long passphrase", name: "Grace" }),
      });
      await page.getByRole("link", { name: "Trading accounts", exact: true }).click();
      await heading(page, "Trading accounts");
      await page.getByLabel("Label", { exact: true }).fill("Main");
      await page.getByLabel("Kite user ID", { exact: true }).fill("AB1234");
      await page.getByLabel("Kite API key", { exact: true }).fill("kiteapikey0123456789");
      await page.getByLabel("Kite API secret", { exact: true }).fill("kitesecretvalue98765");
      await page.getByRole("button", { name: "Link account", exact: true }).click();
      const card = page.getByRole("article", { name: "Account Main" });
      await card.getByText("****6789").waitFor();
      await card.getByText("****8765").waitFor();
      if ((await page.content()).includes("kitesecretvalue98765")) throw new Error("the secret is shown in full");
      await card.getByLabel("Member email", { exact: true }).fill(other);
      await card.getByLabel("Role", { exact: true }).selectOption("viewer");
      await card.getByRole("button", { name: "Add member", exact: true }).click();
      await card.getByRole("list", { name: "Members of Main" }).getByText(/Grace.*viewer/).waitFor();
      await screenshot(page, "trading-accounts");
      // A key bound to the account (the optional field of the API key form).
      await page.getByRole("link", { name: "API keys", exact: true }).click();
      await page.getByLabel("Key name", { exact: true }).fill("account bot");
      await page.getByLabel("Trading account", { exact: true }).selectOption({ label: "Main (AB1234)" });
      await page.getByRole("button", { name: "Create API key", exact: true }).click();
      await page.getByLabel("New API key", { exact: true }).waitFor();
      await page.getByRole("button", { name: "Done", exact: true }).click();
      await page.getByRole("row", { name: /account bot.*Main.*active/ }).waitFor();
    }],
    ["Monitor shows positions and a live quote", async () => {
      await page.getByRole("link", { name: "Monitor", exact: true }).click();
      await heading(page, "Monitor");
      await page.getByRole("row", { name: /ACME\s*100/ }).waitFor();
      await page.getByRole("status", { name: "Quote stream" }).getByText("Live").waitFor();
      // The ticker read the linked account's credentials with its service client.
      await page.getByText("For trading account Main (AB1234), API key ****6789").waitFor();
      await page.getByRole("table", { name: "Live quotes" }).getByRole("row").nth(1).waitFor();
      await screenshot(page, "monitor");
    }],
    ["create and delete an alert", async () => {
      await page.getByLabel("Symbol", { exact: true }).fill("acme");
      await page.getByLabel("Condition", { exact: true }).selectOption("above");
      await page.getByLabel("Price", { exact: true }).fill("101.5");
      await page.getByRole("button", { name: "Create alert", exact: true }).click();
      const del = page.getByRole("button", { name: "Delete alert ACME above 101.5", exact: true });
      await del.waitFor();
      await screenshot(page, "monitor-alert");
      await del.click();
      await page.getByText("No alerts yet.").waitFor();
    }],
    ["profile", async () => {
      await page.getByRole("link", { name: "Profile", exact: true }).click();
      await heading(page, "Profile");
      await page.getByText(email).first().waitFor();
      await page.getByLabel("Name", { exact: true }).fill("Ada King");
      await page.getByRole("button", { name: "Save name", exact: true }).click();
      await page.getByText("Saved.").waitFor();
      await screenshot(page, "profile");
    }],
    ["verify the email: link from the dev outbox, profile shows verified", async () => {
      await page.getByText("not verified").first().waitFor();
      let link = null;
      for (let i = 0; i < 50 && !link; i++) {
        const { messages } = await (await fetch(`${US}/v1/dev/outbox`)).json();
        const mail = messages.find((m) => m.recipient === email && m.subject === "Verify your email address");
        link = mail?.body.match(/https?:\/\/\S+/)?.[0] ?? null;
        if (!link) await sleep(200);
      }
      if (!link) throw new Error("no verification mail in the outbox");
      const url = new URL(link);
      if (url.origin !== WEB || url.pathname !== "/verify-email" || !url.searchParams.get("token")) throw new Error(`unexpected link ${link}`);
      await page.goto(link);
      await page.getByRole("button", { name: "Verify email address", exact: true }).click();
      await page.getByText("Your email address is verified.").waitFor();
      await page.getByRole("link", { name: "Go to your profile", exact: true }).click();
      await heading(page, "Profile");
      await page.getByText("verified", { exact: true }).waitFor();
      if (await page.getByRole("button", { name: "Send the verification link again" }).count()) throw new Error("resend still offered");
      await screenshot(page, "profile-verified");
    }],
    ["forgot password, link from the dev outbox, new password", async () => {
      await page.getByRole("button", { name: "Sign out", exact: true }).click();
      await heading(page, "Sign in");
      await page.getByRole("link", { name: "Forgot your password?", exact: true }).click();
      await heading(page, "Forgot your password?");
      await page.getByLabel("Email", { exact: true }).fill(email);
      await page.getByRole("button", { name: "Send reset link", exact: true }).click();
      await page.getByText(/we have sent it a link/).waitFor();
      await screenshot(page, "forgot-password");
      let link = null;
      for (let i = 0; i < 50 && !link; i++) {
        const { messages } = await (await fetch(`${US}/v1/dev/outbox`)).json();
        const mail = messages.find((m) => m.recipient === email && /reset/i.test(m.subject));
        link = mail?.body.match(/https?:\/\/\S+/)?.[0] ?? null;
        if (!link) await sleep(200);
      }
      if (!link) throw new Error("no reset mail in the outbox");
      const url = new URL(link);
      if (url.origin !== WEB || url.pathname !== "/reset-password" || !url.searchParams.get("token")) throw new Error(`unexpected link ${link}`);
      await page.goto(link);
      await heading(page, "Set a new password");
      password = "a brand new passphrase";
      await page.getByLabel("New password", { exact: true }).fill(password);
      await screenshot(page, "reset-password");
      await page.getByRole("button", { name: "Set new password", exact: true }).click();
      await page.getByText("Your new password is set").waitFor();
      await page.getByRole("link", { name: "Sign in", exact: true }).click();
      await heading(page, "Sign in");
      await signIn(page, "code");
      signedInAt = Date.now();
    }],
    [`the session survives token expiry (TTL ${TTL}s, leeway ${LEEWAY}s) silently`, async () => {
      const before = refreshCalls.length;
      const firstRequest = page.waitForRequest(`${services.VITE_BACKEND_URL}/api/positions`);
      await page.reload();
      await heading(page, "Monitor");
      const initialAuth = (await firstRequest).headers().authorization;
      const wait = signedInAt + (TTL + LEEWAY + 2) * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      if (refreshCalls.length <= before) throw new Error("no refresh call was made");
      const answer = page.waitForResponse(`${services.VITE_BACKEND_URL}/api/positions`);
      await page.getByRole("button", { name: "Refresh positions", exact: true }).click();
      const res = await answer;
      if (res.status() !== 200) throw new Error(`positions after expiry: HTTP ${res.status()}`);
      if (res.request().headers().authorization === initialAuth) throw new Error("the expired token was sent");
      await page.getByRole("status", { name: "Quote stream" }).getByText("Live").waitFor();
      if ((await page.getByRole("heading", { name: "Sign in" }).count()) !== 0) throw new Error("signed out");
      await noStoredTokens(page);
    }],
    ["a new tab restores the session silently", async () => {
      const tab = await browserA.newPage();
      await tab.goto(`${WEB}/profile`);
      await heading(tab, "Profile");
      await tab.getByText(email).first().waitFor();
    }],
    ["two tabs share one session past expiry (they take turns to refresh)", async () => {
      // Today's user-service revokes the whole session when two refreshes race with the
      // same cookie, so both tabs surviving a token lifetime shows the lock works.
      const tab = browserA.pages().find((p) => p !== page);
      const before = refreshCalls.length;
      await sleep((TTL + LEEWAY + 2) * 1000);
      const cycles = refreshCalls.length - before;
      if (cycles < 1) throw new Error("no refresh while two tabs were open");
      const answer = page.waitForResponse(`${services.VITE_BACKEND_URL}/api/positions`);
      await page.getByRole("button", { name: "Refresh positions", exact: true }).click();
      if ((await answer).status() !== 200) throw new Error("the first tab lost its session");
      await tab.getByRole("link", { name: "Security", exact: true }).click();
      await heading(tab, "Security");
      await tab.getByText("This session").waitFor();
      console.log(`      ${cycles} refresh call(s) for two tabs over ${TTL + LEEWAY + 2}s`);
    }],
    ["sign out everywhere ends the other tab and the other device", async () => {
      const tab = browserA.pages().find((p) => p !== page);
      browserB = await launch();
      watch(browserB, "B");
      const device = browserB.pages()[0] ?? (await browserB.newPage());
      await device.goto(`${WEB}/login`);
      await heading(device, "Sign in");
      await signIn(device, "recovery");
      await page.getByRole("link", { name: "Security", exact: true }).click();
      await heading(page, "Security");
      await page.getByRole("row", { name: /Revoke session/ }).first().waitFor();
      await screenshot(page, "security-sessions");
      await page.getByRole("button", { name: "Sign out everywhere", exact: true }).click();
      await heading(page, "Sign in");
      await heading(tab, "Sign in");
      await screenshot(tab, "other-tab-signed-out");
      await device.getByRole("link", { name: "Profile", exact: true }).click();
      await heading(device, "Sign in");
      await device.getByText("Your session has ended. Sign in again to continue.").waitFor();
      await screenshot(device, "other-device-signed-out");
    }],
    ["verify-email page renders the link's form", async () => {
      await page.goto(`${WEB}/verify-email?token=example`);
      await heading(page, "Verify your email address");
      await page.getByRole("button", { name: "Verify email address", exact: true }).waitFor();
      await screenshot(page, "verify-email");
    }],
    ["no Content-Security-Policy violation", async () => {
      if (problems.length) throw new Error(problems.join("\n"));
    }],
  ];

  for (const [name, fn] of steps) {
    const t0 = Date.now();
    try {
      await fn();
      results.passed += 1;
      console.log(`ok    ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    } catch (e) {
      results.failed += 1;
      console.log(`FAIL  ${name}\n${e?.stack ?? e}`);
      await page.screenshot({ path: join(OUT, "FAILED.png"), fullPage: true }).catch(() => undefined);
      break;
    }
  }
  writeFileSync(join(OUT, "refresh-calls.json"), JSON.stringify(refreshCalls, null, 1));
} catch (e) {
  results.failed += 1;
  console.log(`FAIL  setup\n${e?.stack ?? e}`);
} finally {
  await browserB?.close().catch(() => undefined);
  await browserA?.close().catch(() => undefined);
  stopAll();
  rmSync(work, { recursive: true, force: true });
}

console.log(`screenshots and logs: ${OUT}`);
console.log(`e2e: ${results.passed} passed, ${results.failed} failed`);
process.exit(results.failed === 0 ? 0 : 1);
