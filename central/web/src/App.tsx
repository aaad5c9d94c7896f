// Session handling: the login page until a session exists, then the dashboard's pages under one top bar.
import { useCallback, useEffect, useState } from "react";
import { api, onUnauthorized, setCsrfToken, type Session } from "./api";
import { t } from "./i18n";
import { AlertsPage } from "./pages/AlertsPage";
import { DevicePage } from "./pages/DevicePage";
import { EventPage } from "./pages/EventPage";
import { FleetPage } from "./pages/FleetPage";
import { HardExamplesPage } from "./pages/HardExamplesPage";
import { LoginPage } from "./pages/LoginPage";
import { ModelPage } from "./pages/ModelPage";
import { ModelsPage } from "./pages/ModelsPage";
import { RolloutPage } from "./pages/RolloutPage";
import { ReanalysisPage } from "./pages/ReanalysisPage";
import { TotpPage } from "./pages/TotpPage";
import { navigate, paths, useRoute, type Route } from "./router";

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined); // undefined: checking

  const begin = useCallback((started: Session) => {
    setCsrfToken(started.csrf_token);
    setSession(started);
  }, []);

  const end = useCallback(() => {
    setCsrfToken("");
    setSession(null);
  }, []);

  useEffect(() => {
    document.title = t("app.title");
    onUnauthorized(end);
    api.me().then(begin, () => setSession(null));
  }, [begin, end]);

  if (session === undefined) return <p className="notice">{t("common.loading")}</p>;
  if (session === null) return <LoginPage onLogin={begin} />;
  const logout = () => {
    api.logout().catch(() => undefined).finally(end);
  };
  if (session.totp_enrolment_required)
    return (
      <>
        <TotpPage required onEnabled={() => setSession({ ...session, totp_enrolment_required: false })} />
        <button data-testid="logout" onClick={logout}>{t("top.logout")}</button>
      </>
    );
  return <Shell session={session} onLogout={logout} />;
}

function Shell({ session, onLogout }: { session: Session; onLogout: () => void }) {
  const route = useRoute();
  const section = route.page === "model" || route.page === "rollout" ? "models"
    : route.page === "reanalysis" || route.page === "hardExamples" || route.page === "alerts" || route.page === "models" ||
        route.page === "security"
      ? route.page : "fleet";
  return (
    <>
      <header className="topbar">
        <strong>{t("app.title")}</strong>
        <nav className="topbar__nav">
          <a href={paths.fleet} data-testid="nav-fleet" aria-current={section === "fleet" ? "page" : undefined}>
            {t("nav.fleet")}
          </a>
          <a href={paths.reanalysis} data-testid="nav-reanalysis" aria-current={section === "reanalysis" ? "page" : undefined}>
            {t("nav.reanalysis")}
          </a>
          <a href={paths.hardExamples} data-testid="nav-hard-examples"
            aria-current={section === "hardExamples" ? "page" : undefined}>
            {t("nav.hardExamples")}
          </a>
          <a href={paths.alerts} data-testid="nav-alerts" aria-current={section === "alerts" ? "page" : undefined}>
            {t("nav.alerts")}
          </a>
          <a href={paths.models} data-testid="nav-models" aria-current={section === "models" ? "page" : undefined}>
            {t("nav.models")}
          </a>
          <a href={paths.security} data-testid="nav-security" aria-current={section === "security" ? "page" : undefined}>
            {t("nav.security")}
          </a>
        </nav>
        <span className="topbar__user">{t("top.user", { username: session.username, role: t(`role.${session.role}`) })}</span>
        <button data-testid="logout" onClick={onLogout}>{t("top.logout")}</button>
      </header>
      <Page route={route} session={session} />
    </>
  );
}

function Page({ route, session }: { route: Route; session: Session }) {
  const canOperate = session.role === "operator" || session.role === "admin";
  switch (route.page) {
    case "device":
      return <DevicePage key={route.deviceId} deviceId={route.deviceId} />;
    case "event":
      return <EventPage key={`${route.deviceId}/${route.eventId}`} deviceId={route.deviceId} eventId={route.eventId}
        canOperate={canOperate} />;
    case "reanalysis":
      return <ReanalysisPage />;
    case "hardExamples":
      return <HardExamplesPage canOperate={canOperate} />;
    case "alerts":
      return <AlertsPage canOperate={canOperate} />;
    case "security":
      return <TotpPage onEnabled={() => navigate(paths.fleet)} />;
    case "models":
      return <ModelsPage />;
    case "model":
      return <ModelPage key={route.modelId} modelId={route.modelId} isAdmin={session.role === "admin"} />;
    case "rollout":
      return <RolloutPage key={route.rolloutId} rolloutId={route.rolloutId} isAdmin={session.role === "admin"} />;
    default:
      return <FleetPage session={session} />;
  }
}
