import type { UserConfig } from "vite";

export interface AppOptions {
  /** The path the server serves the app at ("/" or "/dashboard/"). */
  base?: string;
  /** The API's path prefix, proxied during development. */
  api: string;
  /** The running server `npx vite` proxies to (e.g. https://localhost:8443). */
  backend: string;
}

export function appConfig(options: AppOptions): UserConfig;
