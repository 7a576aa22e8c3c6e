import type { ReactNode } from "react";
import { Navigate, Outlet, useLocation } from "react-router";
import { useAuth } from "./hooks";

/** What `ProtectedRoute` hands the login page in the router state. */
export interface LoginRedirectState {
  /** Where the user was going: return there after signing in. */
  from?: { pathname: string; search?: string; hash?: string };
  /** Set when a session ended on its own (refresh refused), not by signing out. */
  reason?: "sessionEnded" | "signedOut" | null;
}

/**
 * Renders its children (or the nested routes) for a signed-in user. Otherwise sends the
 * user to `loginPath`, remembering the intended route in the router state (memory, not
 * storage). While the session is being restored it shows a status line.
 */
export function ProtectedRoute({ children, loginPath = "/login" }: { children?: ReactNode; loginPath?: string }) {
  const { status, reason } = useAuth();
  const location = useLocation();
  if (status === "loading") {
    return <p role="status">Restoring your session…</p>;
  }
  if (status === "signedOut") {
    const state: LoginRedirectState = {
      from: { pathname: location.pathname, search: location.search, hash: location.hash },
      reason,
    };
    return <Navigate to={loginPath} replace state={state} />;
  }
  return <>{children ?? <Outlet />}</>;
}

/** Renders its children only when the user holds `permission`; else `fallback`. */
export function RequirePermission({
  permission,
  children,
  fallback,
}: {
  permission: string;
  children: ReactNode;
  fallback?: ReactNode;
}) {
  const { hasPermission } = useAuth();
  if (hasPermission(permission)) return <>{children}</>;
  return (
    <>{fallback === undefined ? <p role="alert">You need the “{permission}” permission to see this.</p> : fallback}</>
  );
}
