import { type FormEvent, useCallback, useEffect, useId, useState } from "react";
import { RequirePermission, type SocketStatus, useAuthedSocket } from "../auth";
import { ErrorMessage } from "../components/ErrorMessage";
import { Field } from "../components/Field";
import { config } from "../config";
import { useAlerts, useBackend } from "../services";

interface Position {
  symbol: string;
  quantity: number;
}

interface Quote {
  symbol: string;
  bid: number;
  ask: number;
  ts: number;
}

interface Alert {
  id: number;
  symbol: string;
  condition: string;
  price: number;
}

function Positions() {
  const api = useBackend();
  const [positions, setPositions] = useState<Position[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(() => {
    api.get<{ positions: Position[] }>("/api/positions").then(
      (r) => {
        setPositions(r.positions);
        setError(null);
      },
      (e: unknown) => setError(e),
    );
  }, [api]);
  useEffect(load, [load]);
  return (
    <section className="card" aria-labelledby="positions-title">
      <h2 id="positions-title">Positions</h2>
      <ErrorMessage error={error} />
      {positions ? (
        <table>
          <caption className="visually-hidden">Positions</caption>
          <thead>
            <tr>
              <th scope="col">Symbol</th>
              <th scope="col">Quantity</th>
            </tr>
          </thead>
          <tbody>
            {positions.map((p) => (
              <tr key={p.symbol}>
                <th scope="row">{p.symbol}</th>
                <td>{p.quantity}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : error ? null : (
        <p role="status">Loading…</p>
      )}
      <button type="button" onClick={load}>
        Refresh positions
      </button>
    </section>
  );
}

const STATUS_TEXT: Record<SocketStatus, string> = {
  connecting: "Connecting…",
  open: "Live",
  reconnecting: "Reconnecting…",
  signedOut: "Signed out",
  closed: "Closed",
};

/** The ticker's first frame: the trading account it streams for. */
interface Subscribed {
  type: "subscribed";
  account: { label: string; broker_user_id: string };
  api_key: string;
}

/** The ticker's refusal (then it closes the socket with 4000 + status). */
interface Refusal {
  type: "error";
  status: number;
  error: string;
  message: string;
}

function Quotes() {
  const [quotes, setQuotes] = useState<Record<string, Quote>>({});
  const [account, setAccount] = useState<Subscribed | null>(null);
  const [refusal, setRefusal] = useState<Refusal | null>(null);
  const onMessage = useCallback((data: string) => {
    try {
      const msg = JSON.parse(data) as { type?: string; symbol?: unknown; account?: unknown; message?: unknown };
      if (msg.type === "quote" && typeof msg.symbol === "string") {
        const q = msg as unknown as Quote;
        setQuotes((prev) => ({ ...prev, [q.symbol]: q }));
      } else if (msg.type === "subscribed" && msg.account) {
        setAccount(msg as unknown as Subscribed);
        setRefusal(null);
      } else if (msg.type === "error" && typeof msg.message === "string") {
        setRefusal(msg as unknown as Refusal);
        setAccount(null);
      }
    } catch {
      // Not JSON: ignore the frame.
    }
  }, []);
  const status = useAuthedSocket(`${config.tickerUrl}/ws/quotes`, onMessage);
  const rows = Object.values(quotes).sort((a, b) => a.symbol.localeCompare(b.symbol));
  return (
    <section className="card" aria-labelledby="quotes-title">
      <h2 id="quotes-title">Live quotes</h2>
      <p>
        Stream: <span role="status" aria-label="Quote stream">{STATUS_TEXT[status]}</span>
      </p>
      {account && (
        <p>
          For trading account {account.account.label} ({account.account.broker_user_id}), API key {account.api_key}
        </p>
      )}
      {refusal && (
        <p role="alert" className="error">
          {refusal.message}
        </p>
      )}
      {rows.length > 0 ? (
        <table>
          <caption className="visually-hidden">Live quotes</caption>
          <thead>
            <tr>
              <th scope="col">Symbol</th>
              <th scope="col">Bid</th>
              <th scope="col">Ask</th>
              <th scope="col">Time</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((q) => (
              <tr key={q.symbol}>
                <th scope="row">{q.symbol}</th>
                <td>{q.bid.toFixed(2)}</td>
                <td>{q.ask.toFixed(2)}</td>
                <td>{new Date(q.ts).toLocaleTimeString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>Waiting for the first quote…</p>
      )}
    </section>
  );
}

function Alerts() {
  const api = useAlerts();
  const conditionId = useId();
  const [alerts, setAlerts] = useState<Alert[] | null>(null);
  const [symbol, setSymbol] = useState("");
  const [condition, setCondition] = useState("above");
  const [price, setPrice] = useState("");
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(() => {
    api.get<Alert[] | { alerts: Alert[] }>("/alerts").then(
      (r) => setAlerts(Array.isArray(r) ? r : r.alerts),
      (e: unknown) => setError(e),
    );
  }, [api]);
  useEffect(load, [load]);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await api.post("/alerts", { symbol: symbol.trim().toUpperCase(), condition, price: Number(price) });
      setSymbol("");
      setPrice("");
      load();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (a: Alert) => {
    setError(null);
    try {
      await api.delete(`/alerts/${a.id}`);
      load();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section className="card" aria-labelledby="alerts-title">
      <h2 id="alerts-title">Price alerts</h2>
      {alerts && alerts.length > 0 ? (
        <ul aria-label="Your alerts">
          {alerts.map((a) => (
            <li key={a.id}>
              {a.symbol} {a.condition} {a.price}{" "}
              <button type="button" aria-label={`Delete alert ${a.symbol} ${a.condition} ${a.price}`} onClick={() => void remove(a)}>
                Delete
              </button>
            </li>
          ))}
        </ul>
      ) : alerts ? (
        <p>No alerts yet.</p>
      ) : null}
      <RequirePermission permission="alerts:write" fallback={<p>You can see alerts but not create them.</p>}>
        <form onSubmit={(e) => void create(e)} className="inline">
          <Field label="Symbol" required maxLength={32} value={symbol} onChange={(e) => setSymbol(e.target.value)} />
          <div className="field">
            <label htmlFor={conditionId}>Condition</label>
            <select id={conditionId} value={condition} onChange={(e) => setCondition(e.target.value)}>
              <option value="above">above</option>
              <option value="below">below</option>
            </select>
          </div>
          <Field label="Price" type="number" step="any" min="0" required value={price} onChange={(e) => setPrice(e.target.value)} />
          <button type="submit">Create alert</button>
        </form>
      </RequirePermission>
      <ErrorMessage error={error} />
    </section>
  );
}

export function MonitorPage() {
  return (
    <section aria-labelledby="monitor-title">
      <h1 id="monitor-title">Monitor</h1>
      <RequirePermission permission="positions:read">
        <Positions />
      </RequirePermission>
      <Quotes />
      <RequirePermission permission="alerts:read">
        <Alerts />
      </RequirePermission>
    </section>
  );
}
