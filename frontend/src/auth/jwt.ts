/** The claims the kit reads from an access token (user-service's `AccessClaims`). */
export interface AccessClaims {
  sub: string;
  exp: number;
  iat?: number;
  iss?: string;
  sid?: string;
  email?: string;
  name?: string;
  roles?: string[];
  permissions?: string[];
  amr?: string[];
  /** Present once user-service verifies email addresses. */
  email_verified?: boolean;
  [claim: string]: unknown;
}

function base64UrlDecode(part: string): string {
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const binary = atob(b64);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/**
 * Reads the payload of a JWT without verifying it: the services verify; the browser only
 * needs `exp` to schedule refreshes and the claims to show who is signed in.
 * Returns null for anything that is not a JWT with a numeric `exp` and a `sub`.
 */
export function decodeClaims(token: string): AccessClaims | null {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const claims: unknown = JSON.parse(base64UrlDecode(parts[1]));
    if (typeof claims !== "object" || claims === null) return null;
    const c = claims as Record<string, unknown>;
    if (typeof c.exp !== "number" || typeof c.sub !== "string") return null;
    return c as AccessClaims;
  } catch {
    return null;
  }
}

/** True when `permissions` grant `wanted`: exactly, through `*`, or through a `prefix:*` wildcard. */
export function grants(permissions: readonly string[] | undefined, wanted: string): boolean {
  return (permissions ?? []).some(
    (p) => p === wanted || p === "*" || (p.endsWith(":*") && wanted.startsWith(p.slice(0, -1))),
  );
}
