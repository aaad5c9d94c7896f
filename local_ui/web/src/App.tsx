// Session handling and page routing.
import { useCallback, useEffect, useState } from "react";
import { api, onUnauthorized, setCsrfToken } from "./api/client";
import type { Session } from "./api/types";
import { AlertBanners } from "./components/AlertBanners";
import { TopBar } from "./components/TopBar";
import { t } from "./i18n";
import { live } from "./live/store";
import { CameraPage } from "./pages/CameraPage";
import { EventDetailPage } from "./pages/event/EventDetailPage";
import { EventsPage } from "./pages/events/EventsPage";
import { LiveGridPage } from "./pages/LiveGridPage";
import { LoginPage } from "./pages/LoginPage";
import { ZoneEditorPage } from "./pages/zones/ZoneEditorPage";
import { ZonePickerPage } from "./pages/zones/ZonePickerPage";
import { navigate, parseRoute, paths, useHash, type Route } from "./router";
import { hasRole, SessionContext } from "./session";

/** Where to go after logging in: the page that sent the user to the login page. */
let returnTo: string = paths.live;

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined); // undefined: checking
  const route = parseRoute(useHash());

  const begin = useCallback((started: Session) => {
    setCsrfToken(started.csrf_token);
    setSession(started);
    live.start();
  }, []);

  const end = useCallback(() => {
    live.stop();
    setCsrfToken("");
    setSession(null);
  }, []);

  useEffect(() => {
    onUnauthorized(end);
    api.me().then(begin, () => setSession(null));
  }, [begin, end]);

  useEffect(() => {
    if (session === null && route.page !== "login") {
      returnTo = window.location.hash || paths.live;
      navigate(paths.login);
    } else if (session && route.page === "login") {
      navigate(returnTo);
      returnTo = paths.live;
    }
  }, [session, route.page]);

  if (session === undefined) return <p className="notice">{t("common.loading")}</p>;
  if (session === null) return <LoginPage onLogin={begin} />;

  const logout = () => {
    api.logout().catch(() => undefined).finally(end);
  };
  return (
    <SessionContext.Provider value={session}>
      <TopBar route={route} onLogout={logout} />
      <main className="page">
        <Page route={route} session={session} />
      </main>
      <AlertBanners />
    </SessionContext.Provider>
  );
}

function Page({ route, session }: { route: Route; session: Session }) {
  switch (route.page) {
    case "login":
    case "live":
      return <LiveGridPage />;
    case "camera":
      return <CameraPage name={route.camera} />;
    case "events":
      return <EventsPage />;
    case "event":
      return <EventDetailPage key={route.id} id={route.id} />;
    case "zones":
    case "zone":
      if (!hasRole(session, "installer")) return <p className="notice notice--error">{t("error.forbidden")}</p>;
      return route.page === "zones" ? <ZonePickerPage /> : <ZoneEditorPage key={route.camera} camera={route.camera} />;
  }
}
