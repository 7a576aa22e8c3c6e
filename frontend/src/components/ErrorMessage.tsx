import { describeError } from "../auth";

/** A service error in words a person understands (never raw JSON). */
export function ErrorMessage({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p role="alert" className="error">
      {describeError(error)}
    </p>
  );
}
