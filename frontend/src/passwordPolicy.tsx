import { useEffect, useState } from "react";
import { ApiError } from "./auth";
import { useUserService } from "./services";

/** The password rules in force at user-service. */
export interface PasswordPolicy {
  minLength: number;
  maxLength: number;
  /** `service`: from `GET /v1/auth/password-policy`; `fallback`: the dev defaults, corrected by 400 answers. */
  source: "service" | "fallback";
}

/** user-service's dev rules, used until `GET /v1/auth/password-policy` exists. */
export const FALLBACK_POLICY: PasswordPolicy = { minLength: 12, maxLength: 128, source: "fallback" };

function num(body: Record<string, unknown>, ...keys: string[]): number | null {
  for (const k of keys) {
    const v = body[k];
    if (typeof v === "number" && Number.isFinite(v)) return v;
  }
  return null;
}

/** Reads the policy document; tolerant of the field names the endpoint may use. */
export function parsePolicy(body: unknown): PasswordPolicy {
  const b = (body ?? {}) as Record<string, unknown>;
  return {
    minLength: num(b, "min_length", "min_chars", "minLength", "min") ?? FALLBACK_POLICY.minLength,
    maxLength: num(b, "max_length", "max_chars", "maxLength", "max") ?? FALLBACK_POLICY.maxLength,
    source: "service",
  };
}

/** A `weak_password` answer ("at least 14 characters") corrects the fallback rules. */
export function learnFromRejection(policy: PasswordPolicy, error: unknown): PasswordPolicy {
  if (!(error instanceof ApiError) || error.code !== "weak_password" || !error.serviceMessage) return policy;
  const min = /at least (\d+) characters/i.exec(error.serviceMessage);
  const max = /at most (\d+) characters/i.exec(error.serviceMessage);
  return {
    ...policy,
    minLength: min?.[1] ? Number(min[1]) : policy.minLength,
    maxLength: max?.[1] ? Number(max[1]) : policy.maxLength,
  };
}

/** The policy from the service, or the fallback when the endpoint is not there. */
export function usePasswordPolicy(): [PasswordPolicy, (p: PasswordPolicy) => void] {
  const api = useUserService();
  const [policy, setPolicy] = useState<PasswordPolicy>(FALLBACK_POLICY);
  useEffect(() => {
    let live = true;
    api.get<unknown>("/v1/auth/password-policy").then(
      (body) => live && setPolicy(parsePolicy(body)),
      () => undefined, // 404 before the operations issue lands: keep the fallback
    );
    return () => {
      live = false;
    };
  }, [api]);
  return [policy, setPolicy];
}

/** Live feedback: each rule met or not, announced politely as the user types. */
export function PasswordRules({ policy, password, rejected }: { policy: PasswordPolicy; password: string; rejected?: string | null }) {
  const length = [...password].length;
  const rules = [
    { text: `At least ${policy.minLength} characters`, ok: length >= policy.minLength },
    { text: `At most ${policy.maxLength} characters`, ok: length <= policy.maxLength },
  ];
  return (
    <div aria-live="polite">
      <ul className="rules" aria-label="Password rules">
        {rules.map((r) => (
          <li key={r.text} className={r.ok ? "ok" : "todo"}>
            {r.ok ? "✓" : "•"} {r.text}
            <span className="visually-hidden">{r.ok ? " (met)" : " (not met yet)"}</span>
          </li>
        ))}
        <li className="todo">• Not a commonly used password (checked when you submit)</li>
      </ul>
      {rejected ? <p className="error">{rejected}</p> : null}
    </div>
  );
}
