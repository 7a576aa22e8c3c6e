import type { AuthClient } from "./client";

export interface ApiClientOptions {
  /** Named in error messages: "Could not reach the alert service". */
  service: string;
  /** `include` only where a cookie matters (user-service's `/v1/auth/*`); default `omit`. */
  credentials?: RequestCredentials;
}

/** JSON over HTTP to one service, with the signed-in user's token. */
export interface ApiClient {
  readonly baseUrl: string;
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  patch<T>(path: string, body?: unknown): Promise<T>;
  put<T>(path: string, body?: unknown): Promise<T>;
  delete<T = void>(path: string): Promise<T>;
  /** Any method; the answer is the parsed JSON body, or undefined for 204. */
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

/**
 * An API client for any service of the platform: adds `Authorization: Bearer`, refreshes
 * and retries once on a 401 (sharing one refresh between concurrent calls), and throws
 * `ApiError` (see `describeError`) for anything unsuccessful.
 */
export function createApiClient(auth: AuthClient, baseUrl: string, options: ApiClientOptions): ApiClient {
  const base = baseUrl.replace(/\/+$/, "");
  const request = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await auth.authorizedFetch(
      `${base}${path}`,
      { method, headers, body: body === undefined ? undefined : JSON.stringify(body) },
      options.service,
      options.credentials ?? "omit",
    );
    if (res.status === 204) return undefined as T;
    const type = res.headers.get("Content-Type") ?? "";
    return (type.includes("json") ? await res.json() : await res.text()) as T;
  };
  return {
    baseUrl: base,
    request,
    get: (path) => request("GET", path),
    post: (path, body) => request("POST", path, body),
    patch: (path, body) => request("PATCH", path, body),
    put: (path, body) => request("PUT", path, body),
    delete: (path) => request("DELETE", path),
  };
}
