import { type FormEvent, useState } from "react";
import { useAuth } from "../auth";
import { ErrorMessage } from "../components/ErrorMessage";
import { Field } from "../components/Field";
import { ResendVerification } from "../components/ResendVerification";
import { useMe } from "../data";
import { useUserService } from "../services";

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
            {verified === false ? (
              <dd>
                <ResendVerification label="Send the verification link again" />
              </dd>
            ) : null}
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
