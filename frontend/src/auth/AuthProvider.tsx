import { type ReactNode, useEffect, useState } from "react";
import { AuthClient } from "./client";
import { AuthContext } from "./context";

export interface AuthProviderProps {
  /** Base URL of user-service; used when no `client` is given. */
  userServiceUrl?: string;
  /** A client built by the app (tests pass one with fakes). */
  client?: AuthClient;
  children: ReactNode;
}

/** Holds the session for the tree below it and restores it silently on mount. */
export function AuthProvider({ userServiceUrl, client, children }: AuthProviderProps) {
  const [auth] = useState(() => {
    if (client) return client;
    if (!userServiceUrl) throw new Error("AuthProvider needs userServiceUrl or client");
    return new AuthClient({ userServiceUrl });
  });
  useEffect(() => {
    void auth.start();
    return () => auth.dispose();
  }, [auth]);
  return <AuthContext.Provider value={auth}>{children}</AuthContext.Provider>;
}
