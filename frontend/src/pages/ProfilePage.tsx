import { type FormEvent, useEffect, useState } from "react";
import { useAuth } from "../auth";
import { ErrorMessage } from "../components/ErrorMessage";
import { Field } from "../components/Field";
import { useUserService } from "../services";

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

export function ProfilePage() {
  const api = useUserService();
  const { user } = useAuth();
  const { me, error, reload } = useMe();
  const [name, setName] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [saveError, setSaveError] = useState<unknown>(null);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    setSaveError(null);
    try {
      await api.patch("/v1/users/me", { name: name ?? me?.name ?? "" });
      setSaved(true);
      reload();
    } catch (err) {
      setSaveError(err);
    }
  };

  const verified = me?.email_verified ?? user?.email_verified;
  return (
    <section aria-labelledby="profile-title">
      <h1 id="profile-title">Profile</h1>
      <ErrorMessage error={error} />
      {me ? (
        <>
          <dl className="facts">
            <dt>Email</dt>
            <dd>
              {me.email}{" "}
              {verified === false ? (
                <span className="badge warn">not verified: open the link in the mail we sent you</span>
              ) : verified ? (
                <span className="badge">verified</span>
              ) : null}
            </dd>
            <dt>Roles</dt>
            <dd>{me.roles.join(", ") || "none"}</dd>
            <dt>Permissions</dt>
            <dd>{me.permissions.join(", ") || "none"}</dd>
            <dt>Two-factor authentication</dt>
            <dd>{me.mfa_enabled ? "on" : "off"}</dd>
            <dt>Member since</dt>
            <dd>{new Date(me.created_at).toLocaleDateString()}</dd>
          </dl>
          <form onSubmit={(e) => void save(e)} className="card">
            <Field
              label="Name"
              name="name"
              autoComplete="name"
              maxLength={100}
              value={name ?? me.name}
              onChange={(e) => {
                setName(e.target.value);
                setSaved(false);
              }}
            />
            <ErrorMessage error={saveError} />
            <button type="submit">Save name</button>
            {saved ? <span role="status"> Saved.</span> : null}
          </form>
        </>
      ) : error ? null : (
        <p role="status">Loading…</p>
      )}
    </section>
  );
}
