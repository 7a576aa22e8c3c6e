import { NavLink, Outlet } from "react-router";
import { useAuth } from "../auth";

const LINKS = [
  ["/monitor", "Monitor"],
  ["/api-keys", "API keys"],
  ["/trading-accounts", "Trading accounts"],
  ["/profile", "Profile"],
  ["/security", "Security"],
] as const;

/** The signed-in frame: navigation, who is signed in, and Sign out. */
export function Layout() {
  const { user, signOut } = useAuth();
  return (
    <div className="app">
      <header>
        <span className="brand">authgate</span>
        <nav aria-label="Main">
          {LINKS.map(([to, label]) => (
            <NavLink key={to} to={to}>
              {label}
            </NavLink>
          ))}
        </nav>
        <span className="who">{user?.email}</span>
        <button type="button" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <main>
        <Outlet />
      </main>
    </div>
  );
}

/** The frame of the pages for signed-out visitors. */
export function PublicLayout() {
  return (
    <div className="app public">
      <header>
        <span className="brand">authgate</span>
      </header>
      <main>
        <Outlet />
      </main>
    </div>
  );
}
