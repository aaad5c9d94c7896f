import { appConfig } from "@vigia/web-common/vite";

// `npm run build` writes dist/, which central/dashboard serves at /dashboard/.
// For `npx vite` during development, VIGIA_DASHBOARD_URL names a running dashboard (e.g. https://localhost:8700).
export default appConfig({
  base: "/dashboard/",
  api: "/dashboard/api",
  backend: process.env.VIGIA_DASHBOARD_URL ?? "https://localhost:8700",
});
