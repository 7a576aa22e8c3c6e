// Where the services are. vite.config.ts resolves each VITE_* variable (or its default)
// at build time; csp.ts holds the defaults.
export const config = {
  userServiceUrl: import.meta.env.VITE_USER_SERVICE_URL as string,
  backendUrl: import.meta.env.VITE_BACKEND_URL as string,
  tickerUrl: import.meta.env.VITE_TICKER_URL as string,
  alertUrl: import.meta.env.VITE_ALERT_URL as string,
};
