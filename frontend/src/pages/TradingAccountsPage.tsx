import { type FormEvent, useCallback, useEffect, useId, useState } from "react";
import { ErrorMessage } from "../components/ErrorMessage";
import { Field } from "../components/Field";
import { type AccountSummary } from "../data";
import { useUserService } from "../services";

type Role = "owner" | "trader" | "viewer";

interface Account extends AccountSummary {
  credentials: { api_key: string; api_secret: string; access_token?: string | null };
  created_at: string;
}

interface Member {
  user_id: string;
  email: string;
  name: string;
  role: Role;
}

const ROLE_TEXT: Record<Role, string> = {
  owner: "owner (everything)",
  trader: "trader (reads; renews the daily access token)",
  viewer: "viewer (reads only)",
};

function Members({ account }: { account: Account }) {
  const api = useUserService();
  const roleId = useId();
  const [members, setMembers] = useState<Member[] | null>(null);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [error, setError] = useState<unknown>(null);
  const base = `/v1/trading-accounts/${encodeURIComponent(account.id)}/members`;
  const load = useCallback(() => {
    api.get<{ members: Member[] }>(base).then(
      (r) => setMembers(r.members),
      (e: unknown) => setError(e),
    );
  }, [api, base]);
  useEffect(load, [load]);
  const add = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await api.post(base, { email, role });
      setEmail("");
      load();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (m: Member) => {
    setError(null);
    try {
      await api.delete(`${base}/${encodeURIComponent(m.user_id)}`);
      load();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div>
      <h3>Members</h3>
      {members ? (
        <ul aria-label={`Members of ${account.label}`}>
          {members.map((m) => (
            <li key={m.user_id}>
              {m.name ? `${m.name} <${m.email}>` : m.email}: {ROLE_TEXT[m.role]}{" "}
              {account.role === "owner" ? (
                <button type="button" aria-label={`Remove ${m.email}`} onClick={() => void remove(m)}>
                  Remove
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
      {account.role === "owner" ? (
        <form onSubmit={(e) => void add(e)} className="inline">
          <Field label="Member email" type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
          <div className="field">
            <label htmlFor={roleId}>Role</label>
            <select id={roleId} value={role} onChange={(e) => setRole(e.target.value as Role)}>
              <option value="viewer">viewer</option>
              <option value="trader">trader</option>
              <option value="owner">owner</option>
            </select>
          </div>
          <button type="submit">Add member</button>
        </form>
      ) : null}
      <ErrorMessage error={error} />
    </div>
  );
}

export function TradingAccountsPage() {
  const api = useUserService();
  const [accounts, setAccounts] = useState<Account[] | null>(null);
  const [form, setForm] = useState({ label: "", user: "", key: "", secret: "", token: "" });
  const [error, setError] = useState<unknown>(null);
  const [listError, setListError] = useState<unknown>(null);
  const load = useCallback(() => {
    api.get<{ trading_accounts: Account[] }>("/v1/trading-accounts").then(
      (r) => setAccounts(r.trading_accounts),
      (e: unknown) => setListError(e),
    );
  }, [api]);
  useEffect(load, [load]);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });

  const link = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await api.post("/v1/trading-accounts", {
        broker: "kite",
        label: form.label,
        broker_user_id: form.user,
        credentials: { api_key: form.key, api_secret: form.secret, access_token: form.token || null },
      });
      setForm({ label: "", user: "", key: "", secret: "", token: "" });
      load();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section aria-labelledby="accounts-title">
      <h1 id="accounts-title">Trading accounts</h1>
      <form className="card" onSubmit={(e) => void link(e)} autoComplete="off">
        <h2>Link a Kite account</h2>
        <p>The credentials are encrypted by the identity service and never shown again in full.</p>
        <Field label="Label" required maxLength={100} value={form.label} onChange={set("label")} />
        <Field label="Kite user ID" required maxLength={64} value={form.user} onChange={set("user")} />
        <Field label="Kite API key" required value={form.key} onChange={set("key")} />
        <Field label="Kite API secret" type="password" required value={form.secret} onChange={set("secret")} />
        <Field label="Kite access token (optional)" type="password" value={form.token} onChange={set("token")} />
        <ErrorMessage error={error} />
        <button type="submit">Link account</button>
      </form>
      <ErrorMessage error={listError} />
      {accounts === null ? (
        listError ? null : <p role="status">Loading…</p>
      ) : accounts.length === 0 ? (
        <p>No linked accounts yet.</p>
      ) : (
        accounts.map((a) => (
          <article key={a.id} className="card" aria-label={`Account ${a.label}`}>
            <h2>{a.label}</h2>
            <dl className="facts">
              <dt>Broker</dt>
              <dd>
                {a.broker} · user {a.broker_user_id}
              </dd>
              <dt>Your role</dt>
              <dd>{a.role}</dd>
              <dt>Plan</dt>
              <dd>{a.subscription_tier}</dd>
              <dt>API key</dt>
              <dd>
                <code>{a.credentials.api_key || "hidden"}</code>
              </dd>
              <dt>API secret</dt>
              <dd>
                <code>{a.credentials.api_secret || "hidden"}</code>
              </dd>
              <dt>Access token</dt>
              <dd>{a.credentials.access_token ? <code>{a.credentials.access_token}</code> : "none"}</dd>
            </dl>
            <Members account={a} />
          </article>
        ))
      )}
    </section>
  );
}
