import { type FormEvent, useState } from "react";
import { Link, useNavigate } from "react-router";
import { ApiError, describeError } from "../auth";
import { ErrorMessage } from "../components/ErrorMessage";
import { Field } from "../components/Field";
import { learnFromRejection, PasswordRules, usePasswordPolicy } from "../passwordPolicy";
import { useUserService } from "../services";

export function RegisterPage() {
  const api = useUserService();
  const navigate = useNavigate();
  const [policy, setPolicy] = usePasswordPolicy();
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [rejected, setRejected] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setRejected(null);
    try {
      await api.post("/v1/auth/register", { name, email, password });
      navigate("/login", { state: { registered: email } });
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

  return (
    <section className="card narrow" aria-labelledby="register-title">
      <h1 id="register-title">Create an account</h1>
      <form onSubmit={(e) => void submit(e)}>
        <Field label="Name" name="name" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} />
        <Field label="Email" type="email" name="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <Field
          label="Password"
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
          Create account
        </button>
      </form>
      <p>
        Already registered? <Link to="/login">Sign in</Link>
      </p>
    </section>
  );
}
