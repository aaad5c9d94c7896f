import { appConfig } from "@vigia/web-common/vite";

// `npm run build` writes dist/, which local_ui/frontend.py serves at `/`.
// For `npx vite` during development, VIGIA_URL names a running appliance (e.g. https://localhost:8443).
export default appConfig({ api: "/api", backend: process.env.VIGIA_URL ?? "https://localhost:8443" });
