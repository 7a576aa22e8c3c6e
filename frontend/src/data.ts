// What several pages read from user-service: the caller's profile and accounts.
import { useEffect, useState } from "react";
import { useUserService } from "./services";

/** `GET /v1/users/me`. */
export interface Me {
  id: string;
  email: string;
  name: string;
  roles: string[];
  permissions: string[];
  status: string;
  mfa_enabled: boolean;
  created_at: string;
  amr?: string[] | null;
  recovery_codes_remaining?: number | null;
  email_verified?: boolean;
}

export function useMe(): { me: Me | null; error: unknown; reload: () => void } {
  const api = useUserService();
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    api.get<Me>("/v1/users/me").then(
      (m) => {
        if (live) {
          setMe(m);
          setError(null);
        }
      },
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [api, tick]);
  return { me, error, reload: () => setTick((t) => t + 1) };
}

export interface AccountSummary {
  id: string;
  broker: string;
  label: string;
  broker_user_id: string;
  subscription_tier: string;
  role: "owner" | "trader" | "viewer";
}

/** The accounts the user owns or shares (`GET /v1/users/me/accounts`). */
export function useMyAccounts(): { accounts: AccountSummary[]; error: unknown } {
  const api = useUserService();
  const [accounts, setAccounts] = useState<AccountSummary[]>([]);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api.get<{ owned: AccountSummary[]; shared: AccountSummary[] }>("/v1/users/me/accounts").then(
      (r) => setAccounts([...r.owned, ...r.shared]),
      (e: unknown) => setError(e),
    );
  }, [api]);
  return { accounts, error };
}

