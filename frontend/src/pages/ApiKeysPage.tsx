import { type FormEvent, useCallback, useEffect, useState } from "react";
import { useAuth } from "../auth";
import { CopyButton } from "../components/CopyButton";
import { ErrorMessage } from "../components/ErrorMessage";
import { Field } from "../components/Field";
import { useUserService } from "../services";
import { type AccountSummary, useMyAccounts } from "../data";

interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  permissions: string[];
  trading_account_id?: string | null;
  status: "active" | "expired" | "revoked";
  created_at: string;
  expires_at?: string | null;
  last_used_at?: string | null;
  revoked_at?: string | null;
}

interface Usage {
  time: string;
  ip?: string | null;
  route: string;
  outcome: string;
}

function NewKey({ name, secret, onDone }: { name: string; secret: string; onDone: () => void }) {
  return (
    <section className="card notice" aria-labelledby="new-key-title">
      <h2 id="new-key-title">Your new API key “{name}”</h2>
      <p>Copy it now: it is shown only this once, and only its first characters are kept for display.</p>
      <p>
        <code aria-label="New API key" className="secret">
          {secret}
        </code>
      </p>
      <CopyButton text={secret} label="Copy key" />{" "}
      <button type="button" onClick={onDone}>
        Done
      </button>
    </section>
  );
}

function UsageTable({ keyId }: { keyId: string }) {
  const api = useUserService();
  const [usage, setUsage] = useState<Usage[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api.get<{ usage: Usage[] }>(`/v1/api-keys/${encodeURIComponent(keyId)}/usage?limit=20`).then(
      (r) => setUsage(r.usage),
      (e: unknown) => setError(e),
    );
  }, [api, keyId]);
  if (error) return <ErrorMessage error={error} />;
  if (!usage) return <p role="status">Loading…</p>;
  if (usage.length === 0) return <p>No recorded use yet (uses appear within a few seconds).</p>;
  return (
    <table>
      <caption>Recent uses</caption>
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">Address</th>
          <th scope="col">Route</th>
          <th scope="col">Outcome</th>
        </tr>
      </thead>
      <tbody>
        {usage.map((u, i) => (
          <tr key={i}>
            <td>{new Date(u.time).toLocaleString()}</td>
            <td>{u.ip ?? ""}</td>
            <td>{u.route}</td>
            <td>{u.outcome}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ApiKeysPage() {
  const api = useUserService();
  const { user } = useAuth();
  const { accounts } = useMyAccounts();
  const permissions = (user?.permissions ?? []).filter((p) => p !== "*");
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [name, setName] = useState("");
  const [chosen, setChosen] = useState<string[] | null>(null);
  const [account, setAccount] = useState("");
  const [days, setDays] = useState("");
  const [created, setCreated] = useState<{ name: string; key: string } | null>(null);
  const [usageOf, setUsageOf] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(() => {
    api.get<{ api_keys: ApiKey[] }>("/v1/api-keys").then(
      (r) => setKeys(r.api_keys),
      (e: unknown) => setError(e),
    );
  }, [api]);
  useEffect(load, [load]);

  const selected = chosen ?? permissions;
  const toggle = (p: string) => setChosen(selected.includes(p) ? selected.filter((x) => x !== p) : [...selected, p]);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const body: Record<string, unknown> = { name, permissions: selected };
      if (account) body.trading_account_id = account;
      if (days) body.expires_in_days = Number(days);
      const k = await api.post<ApiKey & { key: string }>("/v1/api-keys", body);
      setCreated({ name: k.name, key: k.key });
      setName("");
      setDays("");
      load();
    } catch (err) {
      setError(err);
    }
  };
  const rotate = async (k: ApiKey) => {
    setError(null);
    try {
      const r = await api.post<ApiKey & { key: string }>(`/v1/api-keys/${encodeURIComponent(k.id)}/rotate`);
      setCreated({ name: r.name, key: r.key });
      load();
    } catch (err) {
      setError(err);
    }
  };
  const revoke = async (k: ApiKey) => {
    setError(null);
    try {
      await api.delete(`/v1/api-keys/${encodeURIComponent(k.id)}`);
      load();
    } catch (err) {
      setError(err);
    }
  };

  const accountLabel = (id: string | null | undefined) =>
    id ? (accounts.find((a: AccountSummary) => a.id === id)?.label ?? id.slice(0, 8)) : "any";

  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">API keys</h1>
      <p>For programs that cannot sign in yet. A key can do at most what you can, and only what you tick.</p>
      {created ? <NewKey name={created.name} secret={created.key} onDone={() => setCreated(null)} /> : null}
      <form className="card" onSubmit={(e) => void create(e)}>
        <h2>New key</h2>
        <Field label="Key name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        <fieldset>
          <legend>Permissions</legend>
          {permissions.map((p) => (
            <label key={p} className="check">
              <input type="checkbox" checked={selected.includes(p)} onChange={() => toggle(p)} /> {p}
            </label>
          ))}
        </fieldset>
        <div className="field">
          <label htmlFor="key-account">Trading account</label>
          <select id="key-account" value={account} onChange={(e) => setAccount(e.target.value)}>
            <option value="">Not bound to an account</option>
            {accounts.map((a) => (
              <option key={a.id} value={a.id}>
                {a.label} ({a.broker_user_id})
              </option>
            ))}
          </select>
        </div>
        <Field label="Expires after (days)" type="number" min={1} max={3650} placeholder="never" value={days} onChange={(e) => setDays(e.target.value)} />
        <button type="submit" disabled={selected.length === 0}>
          Create API key
        </button>
      </form>
      <ErrorMessage error={error} />
      <h2>Your keys</h2>
      {keys === null ? (
        <p role="status">Loading…</p>
      ) : keys.length === 0 ? (
        <p>No keys yet.</p>
      ) : (
        <table>
          <caption className="visually-hidden">Your API keys</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Key</th>
              <th scope="col">Permissions</th>
              <th scope="col">Account</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id}>
                <th scope="row">{k.name}</th>
                <td>
                  <code>{k.prefix}…</code>
                </td>
                <td>{k.permissions.join(", ")}</td>
                <td>{accountLabel(k.trading_account_id)}</td>
                <td>{k.status}</td>
                <td>{new Date(k.created_at).toLocaleDateString()}</td>
                <td>{k.expires_at ? new Date(k.expires_at).toLocaleDateString() : "never"}</td>
                <td className="actions">
                  <button type="button" aria-label={`Usage of ${k.name}`} onClick={() => setUsageOf(usageOf === k.id ? null : k.id)}>
                    Usage
                  </button>
                  {k.status === "active" ? (
                    <>
                      <button type="button" aria-label={`Rotate ${k.name}`} onClick={() => void rotate(k)}>
                        Rotate
                      </button>
                      <button type="button" className="danger" aria-label={`Revoke ${k.name}`} onClick={() => void revoke(k)}>
                        Revoke
                      </button>
                    </>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {usageOf ? <UsageTable key={usageOf} keyId={usageOf} /> : null}
    </section>
  );
}
