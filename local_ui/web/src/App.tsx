// Session handling and page routing.
import { useCallback, useEffect, useState } from "react";
import { api, onUnauthorized, setCsrfToken } from "./api/client";
import type { Session, SetupStatus } from "./api/types";
import { AlertBanners } from "./components/AlertBanners";
import { TopBar } from "./components/TopBar";
import { t } from "./i18n";
import { disablePush } from "./lib/push";
import { live } from "./live/store";
import { CameraPage } from "./pages/CameraPage";
import { EventDetailPage } from "./pages/event/EventDetailPage";
import { EventsPage } from "./pages/events/EventsPage";
import { LiveGridPage } from "./pages/LiveGridPage";
import { LoginPage } from "./pages/LoginPage";
import { PrivacyPage } from "./pages/privacy/PrivacyPage";
import { SetupWizard } from "./pages/setup/SetupWizard";
import { TotpPage } from "./pages/TotpPage";
import { ZoneEditorPage } from "./pages/zones/ZoneEditorPage";
import { ZonePickerPage } from "./pages/zones/ZonePickerPage";
import { navigate, parseRoute, paths, useHash, type Route } from "./router";
import { hasRole, SessionContext } from "./session";

/** Where to go after logging in: the page that sent the user to the login page. */
let returnTo: string = paths.live;

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined); // undefined: checking
  const [setup, setSetup] = useState<SetupStatus | null | undefined>(undefined); // null: the appliance did not say
  const route = parseRoute(useHash());
  const unclaimed = setup?.state === "unclaimed";

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
    api.setup().then(setSetup, () => setSetup(null));
    api.me().then(begin, () => setSession(null));
  }, [begin, end]);

  useEffect(() => {
    if (unclaimed) {
      if (route.page !== "setup") navigate(paths.setup); // an appliance without an owner serves only the wizard
    } else if (session === null && route.page !== "login") {
      returnTo = window.location.hash || paths.live;
      navigate(paths.login);
    } else if (session && route.page === "login") {
      navigate(returnTo);
      returnTo = paths.live;
    }
  }, [session, route.page, unclaimed]);

  if (session === undefined || setup === undefined) return <p className="notice">{t("common.loading")}</p>;
  if (setup && unclaimed) {
    const done = () => {
      setSetup({ ...setup, state: "ready" });
      navigate(paths.live);
    };
    // An admin who must enrol a second factor does so right after the claim; the wizard stays mounted (its step kept).
    const enrolling = session?.totp_enrolment_required === true;
    return (
      <main className="page">
        {enrolling && <TotpPage required onEnabled={() => setSession({ ...session, totp_enrolment_required: false })} />}
        <div hidden={enrolling}>
          <SetupWizard setup={setup} onClaimed={begin} onDone={done} />
        </div>
      </main>
    );
  }
  if (session === null) return <LoginPage onLogin={begin} />;
  if (session.totp_enrolment_required)
    return (
      <main className="page">
        <TotpPage required onEnabled={() => setSession({ ...session, totp_enrolment_required: false })} />
        <button data-testid="logout" type="button" className="button button--quiet" onClick={() => api.logout().finally(end)}>
          {t("nav.logout")}
        </button>
      </main>
    );

  const logout = () => {
    // The appliance forgets the user's push subscriptions at logout; this browser drops its own too.
    disablePush()
      .catch(() => undefined)
      .then(() => api.logout())
      .catch(() => undefined)
      .finally(end);
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

/** The wizard again on a claimed appliance (installers): every step but the claim can be repeated. */
function SetupPage({ session }: { session: Session }) {
  const [setup, setSetup] = useState<SetupStatus | null>(null);
  useEffect(() => {
    api.setup().then(setSetup, () => undefined);
  }, []);
  if (!hasRole(session, "installer")) return <p className="notice notice--error">{t("error.forbidden")}</p>;
  if (!setup) return <p className="notice">{t("common.loading")}</p>;
  return <SetupWizard setup={setup} onClaimed={() => undefined} onDone={() => navigate(paths.live)} />;
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
    case "setup":
      return <SetupPage session={session} />;
    case "privacy":
      return <PrivacyPage />;
    case "security":
      return <TotpPage onEnabled={() => navigate(paths.live)} />;
    case "zones":
    case "zone":
      if (!hasRole(session, "installer")) return <p className="notice notice--error">{t("error.forbidden")}</p>;
      return route.page === "zones" ? <ZonePickerPage /> : <ZoneEditorPage key={route.camera} camera={route.camera} />;
  }
}
