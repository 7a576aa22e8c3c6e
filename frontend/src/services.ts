import { useApi } from "./auth";
import { config } from "./config";

/** user-service: cookies only matter on /v1/auth/*, which the kit calls itself. */
export const useUserService = () => useApi(config.userServiceUrl, "the identity service");
export const useBackend = () => useApi(config.backendUrl, "the backend");
export const useAlerts = () => useApi(config.alertUrl, "the alert service");
