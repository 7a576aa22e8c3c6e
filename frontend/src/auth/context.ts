import { createContext } from "react";
import type { AuthClient } from "./client";

export const AuthContext = createContext<AuthClient | null>(null);
