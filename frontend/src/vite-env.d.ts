/// <reference types="vite/client" />

interface ImportMetaEnv {
  readonly VITE_USER_SERVICE_URL: string;
  readonly VITE_BACKEND_URL: string;
  readonly VITE_TICKER_URL: string;
  readonly VITE_ALERT_URL: string;
}
