// The Vite settings both front ends build with: the CSP has no inline script or style and no data: URLs,
// so every asset stays a file; `npx vite` proxies the API (and its WebSocket) to a running server.
// Plain JavaScript (types in vite.d.ts): Vite loads a linked package's config code with Node, untranspiled.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

/** @param {import("./vite").AppOptions} options */
export function appConfig({ base = "/", api, backend }) {
  return defineConfig({
    base,
    plugins: [react()],
    build: {
      target: "es2022",
      modulePreload: { polyfill: false },
      assetsInlineLimit: 0,
    },
    server: {
      proxy: { [api]: { target: backend, secure: false, ws: true } },
    },
  });
}
