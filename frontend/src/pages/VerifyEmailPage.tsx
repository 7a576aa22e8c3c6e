import { useState } from "react";
import { Link, useSearchParams } from "react-router";
import { ApiError, useAuth } from "../auth";
import { ErrorMessage } from "../components/ErrorMessage";
import { useUserService } from "../services";

/**
 * Where the verification mail's link lands: `/verify-email?token=...`, confirmed with
 * `POST /v1/auth/email/verify {"token"}`. The user presses the button, so a mail
 * scanner that opens links does not spend the token.
 */
export function VerifyEmailPage() {
  const api = useUserService();
  const { client } = useAuth();
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const [state, setState] = useState<"idle" | "busy" | "done" | "unsupported">("idle");
  const [error, setError] = useState<unknown>(null);

  const verify = async () => {
    setState("busy");
    setError(null);
    try {
      await api.post("/v1/auth/email/verify", { token });
      setState("done");
      // The next access token carries email_verified: fetch it now if signed in.
      const current = client.getState().status === "signedIn" ? await client.getAccessToken() : null;
      if (current) await client.refreshAfter(current).catch(() => undefined);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && err.code !== "invalid_verification_token") {
        setState("unsupported");
      } else {
        setError(err);
        setState("idle");
      }
    }
  };

  let body;
  if (!token) {
    body = <p role="alert">This link has no verification token. Open the link from the mail again.</p>;
  } else if (state === "done") {
    body = (
      <p role="status">
        Your email address is verified. <Link to="/profile">Go to your profile</Link>.
      </p>
    );
  } else if (state === "unsupported") {
    body = <p role="alert">This identity service does not verify email addresses yet.</p>;
  } else {
    body = (
      <>
        <p>Confirm that this email address is yours.</p>
        <ErrorMessage error={error} />
        <button type="button" disabled={state === "busy"} onClick={() => void verify()}>
          Verify email address
        </button>
      </>
    );
  }
  return (
    <section className="card narrow" aria-labelledby="verify-title">
      <h1 id="verify-title">Verify your email address</h1>
      {body}
    </section>
  );
}
