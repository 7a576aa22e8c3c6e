import { type FormEvent, useState } from "react";
import { Link, Navigate, useLocation, useNavigate } from "react-router";
import { ApiError, type LoginRedirectState, useAuth } from "../auth";
import { ErrorMessage } from "../components/ErrorMessage";
import { Field } from "../components/Field";
import { ResendVerification } from "../components/ResendVerification";

/** Back to the intended route, unless the user signed out on purpose. */
function target(state: LoginRedirectState | null): string {
  const from = state?.from;
  if (!from || from.pathname === "/login" || state?.reason === "signedOut") return "/monitor";
  return `${from.pathname}${from.search ?? ""}${from.hash ?? ""}`;
}

/** Password, then (when the account has MFA) an authentication code or a recovery code. */
export function LoginPage() {
  const { status, signIn, completeMfa } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const redirect = (location.state ?? null) as (LoginRedirectState & { registered?: string }) | null;
  const [email, setEmail] = useState(redirect?.registered ?? "");
  const [password, setPassword] = useState("");
  const [mfaToken, setMfaToken] = useState<string | null>(null);
  const [useRecovery, setUseRecovery] = useState(false);
  const [code, setCode] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const unverified = error instanceof ApiError && error.code === "email_not_verified";

  if (status === "signedIn" && !busy) return <Navigate to={target(redirect)} replace />;

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(e);
      if (e instanceof ApiError && ["invalid_mfa_token", "mfa_locked"].includes(e.code)) {
        setMfaToken(null);
        setCode("");
      }
    } finally {
      setBusy(false);
    }
  };

  const onPassword = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const result = await signIn(email, password);
      if (result.mfaRequired) {
        setMfaToken(result.mfaToken);
        setPassword("");
      } else {
        navigate(target(redirect), { replace: true });
      }
    });
  };

  const onCode = (e: FormEvent) => {
    e.preventDefault();
    if (!mfaToken) return;
    void run(async () => {
      await completeMfa(mfaToken, code);
      navigate(target(redirect), { replace: true });
    });
  };

  if (mfaToken) {
    return (
      <section className="card narrow" aria-labelledby="mfa-title">
        <h1 id="mfa-title">Two-factor authentication</h1>
        <form onSubmit={onCode}>
          {useRecovery ? (
            <Field
              key="recovery"
              label="Recovery code"
              name="recovery-code"
              autoComplete="off"
              required
              value={code}
              onChange={(e) => setCode(e.target.value)}
              hint="One of the codes you saved when you turned on two-factor authentication (xxxx-xxxx-xxxx-xxxx). Each works once."
            />
          ) : (
            <Field
              key="totp"
              label="Authentication code"
              name="code"
              inputMode="numeric"
              autoComplete="one-time-code"
              pattern="[0-9 ]{6,7}"
              required
              value={code}
              onChange={(e) => setCode(e.target.value)}
              hint="The 6-digit code your authenticator app shows."
            />
          )}
          <ErrorMessage error={error} />
          <button type="submit" disabled={busy}>
            Verify
          </button>
        </form>
        <button
          type="button"
          className="link"
          onClick={() => {
            setUseRecovery(!useRecovery);
            setCode("");
            setError(null);
          }}
        >
          {useRecovery ? "Use an authentication code instead" : "Use a recovery code instead"}
        </button>
      </section>
    );
  }

  return (
    <section className="card narrow" aria-labelledby="login-title">
      <h1 id="login-title">Sign in</h1>
      {redirect?.reason === "sessionEnded" ? (
        <p role="status">Your session has ended. Sign in again to continue.</p>
      ) : null}
      {redirect?.registered ? <p role="status">Your account is ready. Sign in to continue.</p> : null}
      <form onSubmit={onPassword}>
        <Field label="Email" type="email" name="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <Field
          label="Password"
          type="password"
          name="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {unverified ? (
          <p role="alert" className="error">
            Your email address is not verified yet. Open the link in the mail we sent you, then sign in.
          </p>
        ) : (
          <ErrorMessage error={error} />
        )}
        <button type="submit" disabled={busy || status === "loading"}>
          Sign in
        </button>
      </form>
      {unverified ? <ResendVerification email={email} label="Send the link again" /> : null}
      <p>
        <Link to="/forgot-password">Forgot your password?</Link> · <Link to="/register">Create an account</Link>
      </p>
    </section>
  );
}
