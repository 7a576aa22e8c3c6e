import { useState } from "react";
import { ErrorMessage } from "./ErrorMessage";
import { useUserService } from "../services";

/**
 * "Send the link again": `POST /v1/auth/email/verify/resend`, with `{email}` when signed
 * out (the login page) or as the signed-in user (the profile). The service answers 202
 * whether or not the address has an account, and 429 (with Retry-After) when throttled.
 */
export function ResendVerification({ email, label }: { email?: string; label: string }) {
  const api = useUserService();
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const resend = async () => {
    setBusy(true);
    setError(null);
    setSent(false);
    try {
      await api.post("/v1/auth/email/verify/resend", email === undefined ? undefined : { email });
      setSent(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="resend-verification">
      <button type="button" disabled={busy} onClick={() => void resend()}>
        {label}
      </button>
      {sent ? (
        <p role="status">
          {email === undefined
            ? "A new link is on its way. Open it to verify your email address."
            : "If the address has an account, a new link is on its way."}
        </p>
      ) : null}
      <ErrorMessage error={error} />
    </div>
  );
}
