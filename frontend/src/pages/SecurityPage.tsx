import { type FormEvent, useCallback, useEffect, useState } from "react";
import { renderSVG } from "uqr";
import { useAuth } from "../auth";
import { CopyButton } from "../components/CopyButton";
import { ErrorMessage } from "../components/ErrorMessage";
import { Field } from "../components/Field";
import { PasswordRules, usePasswordPolicy } from "../passwordPolicy";
import { useUserService } from "../services";
import { useMe } from "../data";

interface Session {
  id: string;
  created_at: string;
  last_used_at: string;
  ip?: string | null;
  user_agent?: string | null;
  current: boolean;
}

function ChangePassword() {
  const api = useUserService();
  const [policy] = usePasswordPolicy();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setDone(false);
    try {
      await api.post("/v1/users/me/password", { current_password: current, new_password: next });
      setDone(true);
      setCurrent("");
      setNext("");
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section className="card" aria-labelledby="password-title">
      <h2 id="password-title">Change your password</h2>
      <form onSubmit={(e) => void submit(e)}>
        <Field label="Current password" type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
        <Field
          label="New password"
          type="password"
          autoComplete="new-password"
          required
          value={next}
          onChange={(e) => setNext(e.target.value)}
          hint={<PasswordRules policy={policy} password={next} />}
        />
        <ErrorMessage error={error} />
        <button type="submit">Change password</button>
        {done ? <p role="status">Your password is changed. Your other sessions were signed out.</p> : null}
      </form>
    </section>
  );
}

function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  const text = `authgate recovery codes (each works once)\n\n${codes.join("\n")}\n`;
  const download = () => {
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = "authgate-recovery-codes.txt";
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  return (
    <section className="card notice" aria-labelledby="codes-title">
      <h3 id="codes-title">Recovery codes</h3>
      <p>
        Save these codes now: they are shown only this once. Each one signs you in once if you lose your
        authenticator.
      </p>
      <ul className="codes" aria-label="Recovery codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ul>
      <CopyButton text={codes.join("\n")} label="Copy recovery codes" />{" "}
      <button type="button" onClick={download}>
        Download recovery codes
      </button>{" "}
      <button type="button" onClick={onDone}>
        I have saved my recovery codes
      </button>
    </section>
  );
}

function TwoFactor({ enabled, remaining, reload }: { enabled: boolean; remaining: number | null; reload: () => void }) {
  const api = useUserService();
  const [setup, setSetup] = useState<{ secret: string; otpauth_uri: string } | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [code, setCode] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);

  const act = async (action: () => Promise<void>) => {
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(err);
    }
  };
  const start = () =>
    act(async () => {
      setSetup(await api.post<{ secret: string; otpauth_uri: string }>("/v1/users/me/mfa/totp/setup"));
      setCode("");
    });
  const confirm = (e: FormEvent) => {
    e.preventDefault();
    void act(async () => {
      const r = await api.post<{ recovery_codes: string[] }>("/v1/users/me/mfa/totp/enable", { code: code.trim() });
      setSetup(null);
      setCodes(r.recovery_codes);
      setCode("");
      reload();
    });
  };
  const disable = (e: FormEvent) => {
    e.preventDefault();
    void act(async () => {
      await api.post("/v1/users/me/mfa/totp/disable", { password, code: code.trim() });
      setPassword("");
      setCode("");
      reload();
    });
  };
  const regenerate = (e: FormEvent) => {
    e.preventDefault();
    void act(async () => {
      const r = await api.post<{ recovery_codes: string[] }>("/v1/users/me/mfa/recovery-codes", { password });
      setPassword("");
      setCodes(r.recovery_codes);
      reload();
    });
  };

  return (
    <section className="card" aria-labelledby="mfa-title">
      <h2 id="mfa-title">Two-factor authentication</h2>
      {codes ? <RecoveryCodes codes={codes} onDone={() => setCodes(null)} /> : null}
      {enabled ? (
        <>
          <p>
            Two-factor authentication is on.
            {remaining !== null ? ` ${remaining} recovery code${remaining === 1 ? "" : "s"} left.` : ""}
          </p>
          <form onSubmit={disable}>
            <h3>Turn it off</h3>
            <Field label="Password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
            <Field label="Authentication code" inputMode="numeric" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value)} />
            <button type="submit">Disable two-factor authentication</button>
          </form>
          <form onSubmit={regenerate}>
            <h3>New recovery codes</h3>
            <p>Replaces every recovery code you have; the old ones stop working. Uses the password above.</p>
            <button type="submit" disabled={!password}>
              Create new recovery codes
            </button>
          </form>
        </>
      ) : setup ? (
        <form onSubmit={confirm}>
          <p>Scan this code with your authenticator app, or type the secret key into it. Then enter the code it shows.</p>
          <img
            className="qr"
            width={200}
            height={200}
            alt="QR code for your authenticator app"
            src={`data:image/svg+xml;utf8,${encodeURIComponent(renderSVG(setup.otpauth_uri, { ecc: "M" }))}`}
          />
          <p>
            Secret key: <code aria-label="Secret key">{setup.secret}</code>
          </p>
          <Field label="Authentication code" inputMode="numeric" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value)} />
          <button type="submit">Confirm and turn on</button>{" "}
          <button type="button" onClick={() => setSetup(null)}>
            Cancel
          </button>
        </form>
      ) : (
        <>
          <p>Protect your account with a code from an authenticator app in addition to your password.</p>
          <button type="button" onClick={() => void start()}>
            Enable two-factor authentication
          </button>
        </>
      )}
      <ErrorMessage error={error} />
    </section>
  );
}

function Sessions() {
  const api = useUserService();
  const { signOutEverywhere } = useAuth();
  const [sessions, setSessions] = useState<Session[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(() => {
    api.get<{ sessions: Session[] }>("/v1/users/me/sessions").then(
      (r) => setSessions(r.sessions),
      (e: unknown) => setError(e),
    );
  }, [api]);
  useEffect(load, [load]);
  const revoke = async (id: string) => {
    setError(null);
    try {
      await api.delete(`/v1/users/me/sessions/${encodeURIComponent(id)}`);
      load();
    } catch (err) {
      setError(err);
    }
  };
  const everywhere = async () => {
    setError(null);
    try {
      await signOutEverywhere();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section className="card" aria-labelledby="sessions-title">
      <h2 id="sessions-title">Sessions</h2>
      {sessions ? (
        <table>
          <caption className="visually-hidden">Your sessions</caption>
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">Address</th>
              <th scope="col">Signed in</th>
              <th scope="col">Last active</th>
              <th scope="col">
                <span className="visually-hidden">Action</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {sessions.map((s, i) => (
              <tr key={s.id}>
                <td>{browserName(s.user_agent)}</td>
                <td>{s.ip ?? "unknown"}</td>
                <td>{new Date(s.created_at).toLocaleString()}</td>
                <td>{new Date(s.last_used_at).toLocaleString()}</td>
                <td>
                  {s.current ? (
                    <strong>This session</strong>
                  ) : (
                    <button type="button" aria-label={`Revoke session ${i + 1}`} onClick={() => void revoke(s.id)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : error ? null : (
        <p role="status">Loading…</p>
      )}
      <ErrorMessage error={error} />
      <p>Lost a device, or signed in somewhere you should not have? End every session, this one included.</p>
      <button type="button" className="danger" onClick={() => void everywhere()}>
        Sign out everywhere
      </button>
    </section>
  );
}

function browserName(ua: string | null | undefined): string {
  if (!ua) return "Unknown device";
  const m = /(Firefox|Edg|Chrome|Chromium|Safari)\/[\d.]+/.exec(ua);
  return m ? m[0] : ua.slice(0, 40);
}

export function SecurityPage() {
  const { me, error, reload } = useMe();
  return (
    <section aria-labelledby="security-title">
      <h1 id="security-title">Security</h1>
      <ErrorMessage error={error} />
      <ChangePassword />
      {me ? <TwoFactor enabled={me.mfa_enabled} remaining={me.recovery_codes_remaining ?? null} reload={reload} /> : null}
      <Sessions />
    </section>
  );
}
