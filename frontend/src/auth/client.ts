import { type AccessClaims, decodeClaims, grants } from "./jwt";
import { ApiError } from "./errors";

/** `loading` until the first silent restore from the refresh cookie has answered. */
export type AuthStatus = "loading" | "signedIn" | "signedOut";

/** Why the last sign-out happened, for the login page to explain it. */
export type SignOutReason = "signedOut" | "sessionEnded" | null;

export interface AuthState {
  status: AuthStatus;
  /** Claims of the current access token (who, roles, permissions, `email_verified`). */
  user: AccessClaims | null;
  reason: SignOutReason;
}

/** The answer to a password sign-in: done, or a second factor is needed. */
export type SignInResult = { mfaRequired: false } | { mfaRequired: true; mfaToken: string; expiresIn: number };

/** The subset of `BroadcastChannel` the kit uses (tests pass their own). */
export interface ChannelLike {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((event: MessageEvent) => void) | null;
}

/** The subset of `navigator.locks` the kit uses. */
export interface LocksLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

export interface AuthClientOptions {
  /** Base URL of user-service, e.g. `http://127.0.0.1:8011`. */
  userServiceUrl: string;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Cross-tab channel; defaults to `new BroadcastChannel(channelName)` where available. */
  createChannel?: (name: string) => ChannelLike | null;
  /** Cross-tab lock; defaults to `navigator.locks` where available. */
  locks?: LocksLike | null;
  /** Name of the lock and the channel (one per user-service). Default `authgate`. */
  channelName?: string;
  /** Clock in milliseconds (tests). */
  now?: () => number;
  /** Refresh this many seconds before `exp` at most (default 60; a quarter of the lifetime when shorter). */
  refreshAheadSecs?: number;
}

type TabMessage =
  | { type: "token"; token: string; expiresAt: number }
  | { type: "signed-out"; reason: SignOutReason };

const SERVICE = "the identity service";
const REFRESH_TIMEOUT_MS = 15_000;

/**
 * The session of one browser tab, coordinated with the other tabs.
 *
 * - The access token lives in this object only: never in Web Storage or a cookie the
 *   page can read. The refresh token lives in user-service's HttpOnly cookie, sent with
 *   `credentials: "include"` to the `/v1/auth/*` endpoints only.
 * - A refresh is scheduled ahead of the token's `exp`; a 401 triggers a refresh too.
 *   Concurrent callers share one refresh (single flight), tabs take turns through a
 *   Web Lock and share the new token over a BroadcastChannel.
 * - `409 refresh_superseded` means another tab's refresh won: the cookie already holds
 *   the winner's token, so the refresh is retried once and never signs out.
 */
export class AuthClient {
  readonly userServiceUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly locks: LocksLike | null;
  private readonly createChannel: (name: string) => ChannelLike | null;
  private readonly channelName: string;
  private readonly now: () => number;
  private readonly refreshAheadMs: number;

  private token: string | null = null;
  private expiresAt = 0;
  private state: AuthState = { status: "loading", user: null, reason: null };
  private readonly listeners = new Set<() => void>();
  private inflight: Promise<string | null> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private channel: ChannelLike | null = null;
  private restoring: Promise<void> | null = null;
  private readonly onVisible = (): void => {
    if (document.visibilityState === "visible" && this.token && this.msLeft() < this.aheadMs()) {
      void this.refreshAfter(this.token).catch(() => undefined);
    }
  };

  constructor(options: AuthClientOptions) {
    this.userServiceUrl = options.userServiceUrl.replace(/\/+$/, "");
    this.fetchImpl = options.fetch ?? ((...args) => globalThis.fetch(...args));
    this.locks = options.locks !== undefined ? options.locks : defaultLocks();
    this.createChannel =
      options.createChannel ??
      ((name) => (typeof BroadcastChannel === "function" ? (new BroadcastChannel(name) as ChannelLike) : null));
    this.channelName = options.channelName ?? "authgate";
    this.now = options.now ?? (() => Date.now());
    this.refreshAheadMs = (options.refreshAheadSecs ?? 60) * 1000;
  }

  // ---- state, for React's useSyncExternalStore ---------------------------------------

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getState = (): AuthState => this.state;

  /** Whether the signed-in user holds `permission` (exact, `*` or `prefix:*`). */
  hasPermission(permission: string): boolean {
    return grants(this.state.user?.permissions, permission);
  }

  private setState(next: AuthState): void {
    this.state = next;
    for (const l of this.listeners) l();
  }

  // ---- lifecycle ------------------------------------------------------------------------

  /**
   * Joins the other tabs and restores the session silently from the refresh cookie.
   * Idempotent; resolves when the state is no longer `loading`.
   */
  start(): Promise<void> {
    if (!this.channel) {
      this.channel = this.createChannel(this.channelName);
      if (this.channel) this.channel.onmessage = (e) => this.onTabMessage(e.data as TabMessage);
      if (typeof document !== "undefined") document.addEventListener("visibilitychange", this.onVisible);
    }
    if (!this.restoring) {
      this.restoring = this.refreshAfter(null)
        .then(() => undefined)
        .catch(() => {
          // The identity service is unreachable: nothing to restore from; the pages say so.
          if (this.state.status === "loading") this.setState({ status: "signedOut", user: null, reason: null });
        });
    }
    return this.restoring;
  }

  /** Leaves the other tabs and stops the refresh timer (the session itself stays). */
  dispose(): void {
    this.clearTimer();
    this.channel?.close();
    this.channel = null;
    this.restoring = null;
    if (typeof document !== "undefined") document.removeEventListener("visibilitychange", this.onVisible);
  }

  // ---- sign in and out ------------------------------------------------------------------

  /** Password sign-in; answers whether a second factor is needed. */
  async signIn(email: string, password: string): Promise<SignInResult> {
    const body = await this.authPost("/v1/auth/login", { email, password });
    if (body && body.mfa_required === true && typeof body.mfa_token === "string") {
      return { mfaRequired: true, mfaToken: body.mfa_token, expiresIn: Number(body.expires_in ?? 300) };
    }
    this.adoptResponse(body);
    return { mfaRequired: false };
  }

  /** The second step: an authentication code from the app, or a recovery code. */
  async completeMfa(mfaToken: string, code: string): Promise<void> {
    const body = await this.authPost("/v1/auth/login/mfa", { mfa_token: mfaToken, code: code.trim() });
    this.adoptResponse(body);
  }

  /** Ends this session at user-service and signs out every tab of this browser. */
  async signOut(): Promise<void> {
    const token = this.token;
    try {
      await this.fetchImpl(`${this.userServiceUrl}/v1/auth/logout`, {
        method: "POST",
        credentials: "include",
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      });
    } catch {
      // Unreachable: the local sign-out still happens; the cookie expires on its own.
    }
    this.endSession("signedOut", true);
  }

  /** Ends every session of the user (all devices), then signs out every tab here. */
  async signOutEverywhere(): Promise<void> {
    await this.authorizedFetch(`${this.userServiceUrl}/v1/auth/logout-all`, { method: "POST" }, SERVICE, "include");
    this.endSession("signedOut", true);
  }

  // ---- tokens -----------------------------------------------------------------------------

  /**
   * A usable access token, refreshed first when it has less than `minValiditySecs` left;
   * null when signed out. Waits for the initial restore.
   */
  async getAccessToken(options: { minValiditySecs?: number } = {}): Promise<string | null> {
    if (this.state.status === "loading" && this.restoring) await this.restoring;
    if (!this.token) return null;
    if (this.msLeft() > (options.minValiditySecs ?? 0) * 1000) return this.token;
    return this.refreshAfter(this.token);
  }

  /**
   * Refreshes because `rejected` was refused (a 401) or is about to expire. Callers that
   * hold the same stale token share one refresh; a caller whose token was already
   * replaced gets the new one without another refresh. Null: the session has ended.
   */
  refreshAfter(rejected: string | null): Promise<string | null> {
    if (this.token && this.token !== rejected && this.msLeft() > 5000) return Promise.resolve(this.token);
    if (this.inflight) return this.inflight;
    const run = async (): Promise<string | null> => {
      // While this tab waited for the lock, another tab may have refreshed and shared it.
      if (this.token && this.token !== rejected && this.msLeft() > 5000) return this.token;
      return this.refreshWithCookie(rejected === null);
    };
    this.inflight = (this.locks ? this.locks.request(`${this.channelName}-refresh`, run) : run()).finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async refreshWithCookie(restoring: boolean): Promise<string | null> {
    let res = await this.postRefresh();
    if (res.status === 409 && (await errorCode(res)) === "refresh_superseded") {
      // Another tab (or instance) rotated the same refresh token a moment ago; its answer
      // set the new cookie. Retry once with it; never sign out for this.
      res = await this.postRefresh();
      if (res.status === 409) {
        if (this.token && this.msLeft() > 0) return this.token;
        throw new ApiError({ status: 409, code: "refresh_superseded", service: SERVICE });
      }
    }
    if (res.ok) {
      this.adoptResponse(await res.json());
      return this.token;
    }
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      // No cookie, or a revoked/expired session. A failed silent restore says nothing
      // about other tabs (they would have shared a token), so only a lost session is broadcast.
      this.endSession(restoring ? null : "sessionEnded", !restoring);
      return null;
    }
    throw await ApiError.fromResponse(res, SERVICE);
  }

  private async postRefresh(): Promise<Response> {
    try {
      return await this.fetchImpl(`${this.userServiceUrl}/v1/auth/refresh`, {
        method: "POST",
        credentials: "include",
        // This runs under the cross-tab lock: a hung request must not stall every tab.
        signal: AbortSignal.timeout(REFRESH_TIMEOUT_MS),
      });
    } catch {
      throw new ApiError({ status: 0, code: "network", service: SERVICE });
    }
  }

  /**
   * `fetch` with the access token, refreshing and retrying once on a 401. Throws
   * `ApiError` for any unsuccessful answer. `credentials` is "omit" except for
   * user-service's cookie endpoints.
   */
  async authorizedFetch(
    url: string,
    init: RequestInit,
    service: string,
    credentials: RequestCredentials = "omit",
  ): Promise<Response> {
    const send = async (token: string | null): Promise<Response> => {
      const headers = new Headers(init.headers);
      if (token) headers.set("Authorization", `Bearer ${token}`);
      try {
        return await this.fetchImpl(url, { ...init, headers, credentials });
      } catch {
        throw new ApiError({ status: 0, code: "network", service });
      }
    };
    const token = await this.getAccessToken({ minValiditySecs: 1 });
    let res = await send(token);
    if (res.status === 401 && token) {
      const fresh = await this.refreshAfter(token);
      if (!fresh) throw new ApiError({ status: 401, code: "session_ended", service });
      res = await send(fresh);
    }
    if (!res.ok) throw await ApiError.fromResponse(res, service);
    return res;
  }

  // ---- internals ------------------------------------------------------------------------

  private async authPost(path: string, payload: unknown): Promise<Record<string, unknown>> {
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.userServiceUrl}${path}`, {
        method: "POST",
        credentials: "include",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(payload),
      });
    } catch {
      throw new ApiError({ status: 0, code: "network", service: SERVICE });
    }
    if (!res.ok) throw await ApiError.fromResponse(res, SERVICE);
    return (await res.json()) as Record<string, unknown>;
  }

  /** Takes a token pair answer; the refresh token in the body is ignored (the cookie has it). */
  private adoptResponse(body: unknown): void {
    const b = (body ?? {}) as Record<string, unknown>;
    if (typeof b.access_token !== "string") {
      throw new ApiError({ status: 502, code: "bad_token_response", service: SERVICE });
    }
    const claims = decodeClaims(b.access_token);
    if (!claims) throw new ApiError({ status: 502, code: "bad_token_response", service: SERVICE });
    // `exp` in this browser's clock: the token was issued (`iat`) about now.
    const skewMs = claims.iat ? this.now() - claims.iat * 1000 : 0;
    const expiresAt = claims.exp * 1000 + skewMs;
    this.adopt(b.access_token, expiresAt);
    this.post({ type: "token", token: b.access_token, expiresAt });
  }

  private adopt(token: string, expiresAt: number): void {
    const claims = decodeClaims(token);
    if (!claims) return;
    this.token = token;
    this.expiresAt = expiresAt;
    this.setState({ status: "signedIn", user: claims, reason: null });
    this.schedule(claims);
  }

  private endSession(reason: SignOutReason, broadcast: boolean): void {
    this.token = null;
    this.expiresAt = 0;
    this.clearTimer();
    this.setState({ status: "signedOut", user: null, reason });
    if (broadcast) this.post({ type: "signed-out", reason });
  }

  private onTabMessage(message: TabMessage): void {
    if (message?.type === "token" && typeof message.token === "string") {
      this.adopt(message.token, message.expiresAt);
    } else if (message?.type === "signed-out") {
      if (this.state.status !== "signedOut") this.endSession(message.reason, false);
    }
  }

  private post(message: TabMessage): void {
    try {
      this.channel?.postMessage(message);
    } catch {
      // A closed channel: this tab is going away.
    }
  }

  private msLeft(): number {
    return this.expiresAt - this.now();
  }

  private aheadMs(): number {
    const lifetime = this.state.user?.iat ? (this.state.user.exp - this.state.user.iat) * 1000 : 900_000;
    return Math.min(this.refreshAheadMs, lifetime / 4);
  }

  private schedule(claims: AccessClaims): void {
    this.clearTimer();
    const lifetime = claims.iat ? (claims.exp - claims.iat) * 1000 : 900_000;
    const ahead = Math.min(this.refreshAheadMs, lifetime / 4);
    const delay = Math.max(0, this.msLeft() - ahead);
    const token = this.token;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.token !== token) return;
      this.refreshAfter(token).catch(() => {
        // Unreachable for now: try again shortly; requests still retry on a 401.
        if (this.token === token && this.msLeft() > 0) this.timer = setTimeout(() => this.schedule(claims), 5000);
      });
    }, delay);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

function defaultLocks(): LocksLike | null {
  const nav = typeof navigator !== "undefined" ? (navigator as Navigator & { locks?: LocksLike }) : undefined;
  return nav?.locks && typeof nav.locks.request === "function" ? nav.locks : null;
}

async function errorCode(res: Response): Promise<string | null> {
  try {
    const body = (await res.clone().json()) as { error?: unknown };
    return typeof body.error === "string" ? body.error : null;
  } catch {
    return null;
  }
}
