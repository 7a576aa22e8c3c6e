import { type FormEvent, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { ApiError, describeError } from "../auth";
import { ErrorMessage } from "../components/ErrorMessage";
import { Field } from "../components/Field";
import { learnFromRejection, PasswordRules, usePasswordPolicy } from "../passwordPolicy";
import { useUserService } from "../services";

/** Where the reset mail's link lands: `/reset-password?token=...`. */
export function ResetPasswordPage() {
  const api = useUserService();
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const [policy, setPolicy] = usePasswordPolicy();
  const [password, setPassword] = useState("");
  const [done, setDone] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [rejected, setRejected] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setRejected(null);
    try {
      await api.post("/v1/auth/password/reset", { token, new_password: password });
      setDone(true);
    } catch (err) {
      if (err instanceof ApiError && err.code === "weak_password") {
        setPolicy(learnFromRejection(policy, err));
        setRejected(describeError(err));
      } else {
        setError(err);
      }
    } finally {
      setBusy(false);
    }
  };

  let body;
  if (!token) {
    body = (
      <p role="alert">
        This link has no reset token. <Link to="/forgot-password">Ask for a new link</Link>.
      </p>
    );
  } else if (done) {
    body = (
      <p role="status">
        Your new password is set, and every session was signed out. <Link to="/login">Sign in</Link> with it.
      </p>
    );
  } else {
    body = (
      <form onSubmit={(e) => void submit(e)}>
        <Field
          label="New password"
          type="password"
          name="new-password"
          autoComplete="new-password"
          required
          value={password}
          onChange={(e) => {
            setPassword(e.target.value);
            setRejected(null);
          }}
          hint={<PasswordRules policy={policy} password={password} rejected={rejected} />}
        />
        <ErrorMessage error={error} />
        <button type="submit" disabled={busy}>
          Set new password
        </button>
      </form>
    );
  }
  return (
    <section className="card narrow" aria-labelledby="reset-title">
      <h1 id="reset-title">Set a new password</h1>
      {body}
    </section>
  );
}
