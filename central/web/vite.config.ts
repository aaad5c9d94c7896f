import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run build` writes dist/, which central/dashboard.py serves at /dashboard/.
// For `npx vite` during development, VIGIA_DASHBOARD_URL names a running dashboard (e.g. https://localhost:8700).
const backend = process.env.VIGIA_DASHBOARD_URL ?? "https://localhost:8700";

export default defineConfig({
  base: "/dashboard/",
  plugins: [react()],
  build: {
    target: "es2022",
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0, // the CSP has no data: for scripts or styles; keep every asset a file
  },
  server: {
    proxy: { "/dashboard/api": { target: backend, secure: false, ws: true } },
  },
});
