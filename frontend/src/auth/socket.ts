import type { AuthClient } from "./client";

export type SocketStatus = "connecting" | "open" | "reconnecting" | "signedOut" | "closed";

export interface AuthedSocketOptions {
  onMessage: (data: string) => void;
  onStatus?: (status: SocketStatus) => void;
  /** Defaults to the global WebSocket (tests pass a fake). */
  WebSocketImpl?: typeof WebSocket;
}

/** The close code services send when the token expired or was refused (RFC 6455 policy violation). */
export const POLICY_VIOLATION = 1008;

/**
 * Close codes 4000-4999 carry an application's refusal, by convention 4000 + an HTTP
 * status (the ticker's 4409 no_trading_account, 4503 ...). Only 4401 is about the token.
 */
/** How long a connection must stay open for the reconnect backoff to start over. */
const STABLE_MS = 10_000;

const refusesTheToken = (code: number): boolean => code === 4401 || code < 4000 || code > 4999;

/**
 * A WebSocket authenticated with the access token (sent as the `bearer, <token>`
 * subprotocol, so it never appears in a URL or a log line). When the server closes
 * with 1008 (the token expired) it reconnects at once with a fresh token; other drops
 * reconnect with backoff (refreshing the token after two, unless the server closed with
 * an application code 4000-4999 other than 4401). Returns a function that closes it for good.
 */
export function openAuthedSocket(auth: AuthClient, url: string, options: AuthedSocketOptions): () => void {
  const Impl = options.WebSocketImpl ?? WebSocket;
  let stopped = false;
  let socket: WebSocket | null = null;
  let failures = 0;
  let lastToken: string | null = null;
  let retry: ReturnType<typeof setTimeout> | null = null;
  let openedAt = 0;
  const status = (s: SocketStatus): void => options.onStatus?.(s);

  const connect = async (refused: boolean): Promise<void> => {
    // A token the server just refused is replaced first; otherwise one with a few seconds left.
    const token = refused && lastToken ? await auth.refreshAfter(lastToken) : await auth.getAccessToken({ minValiditySecs: 5 });
    if (stopped) return;
    if (!token) return status("signedOut");
    lastToken = token;
    const ws = new Impl(url, ["bearer", token]);
    socket = ws;
    ws.onopen = () => {
      openedAt = Date.now();
      status("open");
    };
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data === "string") options.onMessage(e.data);
    };
    ws.onclose = (e: CloseEvent) => {
      socket = null;
      // Only a connection that lasted starts the backoff over: one the server accepts and
      // closes at once (a 4409 refusal) must not be retried every second.
      if (openedAt && Date.now() - openedAt >= STABLE_MS) failures = 0;
      openedAt = 0;
      if (stopped) return;
      status("reconnecting");
      if (e.code === POLICY_VIOLATION) {
        // The token ran out (or was refused): reconnect now with a fresh one.
        schedule(0, true);
      } else {
        failures += 1;
        // A refused handshake shows up as 1006 with no reason; after two, refresh too.
        // An application refusal (4xxx) says why, and a new token changes nothing.
        schedule(Math.min(30_000, 500 * 2 ** failures), failures >= 2 && refusesTheToken(e.code));
      }
    };
  };
  const schedule = (delay: number, refused: boolean): void => {
    retry = setTimeout(() => {
      retry = null;
      connect(refused).catch(() => schedule(5000, false));
    }, delay);
  };

  status("connecting");
  connect(false).catch(() => schedule(5000, false));
  return () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    socket?.close(1000);
    status("closed");
  };
}
