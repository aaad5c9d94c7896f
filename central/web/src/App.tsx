// Session handling: the login page until a session exists, then the dashboard.
import { useCallback, useEffect, useState } from "react";
import { api, onUnauthorized, setCsrfToken, type Session } from "./api";
import { t } from "./i18n";
import { DashboardPage } from "./pages/DashboardPage";
import { LoginPage } from "./pages/LoginPage";

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
  return <DashboardPage session={session} onLogout={logout} />;
}
