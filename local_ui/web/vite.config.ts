import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run build` writes dist/, which local_ui/server.py serves at `/`.
// For `npx vite` during development, VIGIA_URL names a running appliance (e.g. https://localhost:8443).
const backend = process.env.VIGIA_URL ?? "https://localhost:8443";

export default defineConfig({
  plugins: [react()],
  build: {
    target: "es2022",
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0, // the CSP has no data: for scripts or styles; keep every asset a file
  },
  server: {
    proxy: { "/api": { target: backend, secure: false, ws: true } },
  },
});
