/** An unsuccessful answer from a service, or no answer at all (`status` 0). */
export class ApiError extends Error {
  /** HTTP status; 0 when the service could not be reached. */
  readonly status: number;
  /** The service's machine-readable code (`invalid_credentials`, ...), or a kit code. */
  readonly code: string;
  /** Seconds to wait, from `Retry-After` (429, 503). */
  readonly retryAfter: number | null;
  /** Which service answered, for messages ("the alert service"). */
  readonly service: string;
  /** The service's own message, when it sent one (already meant for people). */
  readonly serviceMessage: string | null;

  constructor(init: {
    status: number;
    code: string;
    service: string;
    serviceMessage?: string | null;
    retryAfter?: number | null;
  }) {
    super(`${init.service}: ${init.status} ${init.code}`);
    this.name = "ApiError";
    this.status = init.status;
    this.code = init.code;
    this.service = init.service;
    this.serviceMessage = init.serviceMessage ?? null;
    this.retryAfter = init.retryAfter ?? null;
  }

  /** Reads `{"error": code, "message": text}` (or any other body) from a failed response. */
  static async fromResponse(res: Response, service: string): Promise<ApiError> {
    let code = `http_${res.status}`;
    let serviceMessage: string | null = null;
    try {
      const body: unknown = await res.json();
      if (body && typeof body === "object") {
        const b = body as Record<string, unknown>;
        if (typeof b.error === "string") code = b.error;
        const msg = b.message ?? b.error_description;
        if (typeof msg === "string" && msg.length <= 300) serviceMessage = msg;
      }
    } catch {
      // Not JSON (a proxy's HTML page, an empty body): the status alone speaks.
    }
    return new ApiError({ status: res.status, code, service, serviceMessage, retryAfter: retryAfter(res) });
  }
}

function retryAfter(res: Response): number | null {
  const raw = res.headers.get("Retry-After");
  if (!raw) return null;
  const secs = Number(raw);
  if (Number.isFinite(secs)) return Math.max(0, Math.ceil(secs));
  const date = Date.parse(raw);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** "45 seconds", "2 minutes", "1 hour". */
export function describeWait(secs: number): string {
  if (secs < 60) return `${Math.max(1, secs)} second${secs === 1 ? "" : "s"}`;
  const mins = Math.ceil(secs / 60);
  if (mins < 60) return `${mins} minute${mins === 1 ? "" : "s"}`;
  const hours = Math.ceil(mins / 60);
  return `${hours} hour${hours === 1 ? "" : "s"}`;
}

const MESSAGES: Record<string, string> = {
  invalid_credentials: "The email or password is not right.",
  invalid_code: "That code is not right. Check your authenticator app, or use a recovery code.",
  invalid_mfa_token: "This sign-in attempt has expired. Sign in again.",
  mfa_locked: "Too many wrong codes. Sign in again.",
  account_disabled: "This account is disabled. Contact your administrator.",
  email_taken: "An account with this email already exists. Sign in, or reset your password.",
  invalid_email: "Enter a valid email address.",
  invalid_reset_token: "This reset link is invalid, already used or expired. Ask for a new one.",
  invalid_verification_token: "This verification link is invalid, already used or expired.",
  invalid_token: "Your session has ended. Sign in again.",
  unauthorized: "Your session has ended. Sign in again.",
  invalid_grant: "Your session has ended. Sign in again.",
  session_ended: "Your session has ended. Sign in again.",
  insufficient_scope: "You do not have permission to do this.",
  forbidden: "You do not have permission to do this.",
  not_found: "It no longer exists, or you do not have access to it.",
};

/** What to tell a person about `error`: never raw JSON, never a stack. */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) {
    return "Something went wrong. Try again.";
  }
  if (error.status === 0) {
    return `Could not reach ${error.service}. Check your connection and that the service is running, then try again.`;
  }
  if (error.status === 429) {
    return error.retryAfter !== null
      ? `Too many attempts. Try again in ${describeWait(error.retryAfter)}.`
      : "Too many attempts. Wait a little, then try again.";
  }
  const known = MESSAGES[error.code];
  if (known) return known;
  if (error.status >= 500) {
    return `${capitalize(error.service)} had a problem. Try again in a moment.`;
  }
  if (error.serviceMessage) return sentence(error.serviceMessage);
  return `${capitalize(error.service)} refused the request (HTTP ${error.status}).`;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function sentence(s: string): string {
  const t = capitalize(s.trim());
  return /[.!?]$/.test(t) ? t : `${t}.`;
}
