import { useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { type ApiClient, createApiClient } from "./api";
import type { AuthClient, AuthState } from "./client";
import { AuthContext } from "./context";
import { openAuthedSocket, type SocketStatus } from "./socket";

export interface UseAuth extends AuthState {
  client: AuthClient;
  signIn: AuthClient["signIn"];
  completeMfa: AuthClient["completeMfa"];
  signOut: AuthClient["signOut"];
  signOutEverywhere: AuthClient["signOutEverywhere"];
  hasPermission: (permission: string) => boolean;
}

/** The session: status, user claims and the actions. Needs an `AuthProvider` above. */
export function useAuth(): UseAuth {
  const client = useContext(AuthContext);
  if (!client) throw new Error("useAuth must be used inside <AuthProvider>");
  const state = useSyncExternalStore(client.subscribe, client.getState, client.getState);
  return useMemo(
    () => ({
      ...state,
      client,
      signIn: (email, password) => client.signIn(email, password),
      completeMfa: (token, code) => client.completeMfa(token, code),
      signOut: () => client.signOut(),
      signOutEverywhere: () => client.signOutEverywhere(),
      hasPermission: (p: string) => client.hasPermission(p),
    }),
    [state, client],
  );
}

/** An API client for the service at `baseUrl` (stable across renders). */
export function useApi(baseUrl: string, service: string, credentials?: RequestCredentials): ApiClient {
  const { client } = useAuth();
  return useMemo(
    () => createApiClient(client, baseUrl, { service, ...(credentials ? { credentials } : {}) }),
    [client, baseUrl, service, credentials],
  );
}

/** A WebSocket with the user's token, reconnecting with a fresh one after a 1008 close. */
export function useAuthedSocket(url: string, onMessage: (data: string) => void): SocketStatus {
  const { client } = useAuth();
  const [status, setStatus] = useState<SocketStatus>("connecting");
  const handlerRef = useRef(onMessage);
  useEffect(() => {
    handlerRef.current = onMessage;
  });
  useEffect(
    () => openAuthedSocket(client, url, { onMessage: (d) => handlerRef.current(d), onStatus: setStatus }),
    [client, url],
  );
  return status;
}
