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
 * A WebSocket authenticated with the access token (sent as the `bearer, <token>`
 * subprotocol, so it never appears in a URL or a log line). When the server closes
 * with 1008 (the token expired) it reconnects at once with a fresh token; other drops
 * reconnect with backoff. Returns a function that closes it for good.
 */
export function openAuthedSocket(auth: AuthClient, url: string, options: AuthedSocketOptions): () => void {
  const Impl = options.WebSocketImpl ?? WebSocket;
  let stopped = false;
  let socket: WebSocket | null = null;
  let failures = 0;
  let lastToken: string | null = null;
  let retry: ReturnType<typeof setTimeout> | null = null;
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
      failures = 0;
      status("open");
    };
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data === "string") options.onMessage(e.data);
    };
    ws.onclose = (e: CloseEvent) => {
      socket = null;
      if (stopped) return;
      status("reconnecting");
      if (e.code === POLICY_VIOLATION) {
        // The token ran out (or was refused): reconnect now with a fresh one.
        schedule(0, true);
      } else {
        failures += 1;
        // A refused handshake shows up as 1006 with no reason; after two, refresh too.
        schedule(Math.min(30_000, 500 * 2 ** failures), failures >= 2);
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
