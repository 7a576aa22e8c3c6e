// The auth kit's public surface. Import from "src/auth" (this file) only.
export { AuthClient } from "./client";
export type { AuthClientOptions, AuthState, AuthStatus, SignInResult, SignOutReason, ChannelLike, LocksLike } from "./client";
export { AuthProvider } from "./AuthProvider";
export type { AuthProviderProps } from "./AuthProvider";
export { useAuth, useApi, useAuthedSocket } from "./hooks";
export type { UseAuth } from "./hooks";
export { ProtectedRoute, RequirePermission } from "./guards";
export type { LoginRedirectState } from "./guards";
export { createApiClient } from "./api";
export type { ApiClient, ApiClientOptions } from "./api";
export { openAuthedSocket, POLICY_VIOLATION } from "./socket";
export type { AuthedSocketOptions, SocketStatus } from "./socket";
export { ApiError, describeError, describeWait } from "./errors";
export { decodeClaims, grants } from "./jwt";
export type { AccessClaims } from "./jwt";
