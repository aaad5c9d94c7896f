import { t } from "../i18n";
import { useAlerts, useConnection } from "../live/hooks";
import { paths, type Route } from "../router";
import { hasRole, useSession } from "../session";
import { PushToggle } from "./PushToggle";
import { SyncStatus } from "./SyncStatus";

interface Props {
  route: Route;
  onLogout(): void;
}

export function TopBar({ route, onLogout }: Props) {
  const session = useSession();
  const connection = useConnection();
  const alerts = useAlerts().length;
  const section = route.page === "camera" ? "live" : route.page === "event" ? "events" : route.page === "zone" ? "zones" : route.page;
  const link = (name: "live" | "events" | "zones" | "setup" | "privacy" | "security") => (
    <a data-testid={`nav-${name}`} href={paths[name]} aria-current={section === name ? "page" : undefined}>
      {t(`nav.${name}`)}
    </a>
  );
  return (
    <header className="topbar">
      <span className="topbar-brand">Vigia</span>
      <nav className="topbar-nav">
        {link("live")}
        {link("events")}
        {hasRole(session, "installer") && link("zones")}
        {hasRole(session, "installer") && link("setup")}
        {link("privacy")}
        {link("security")}
      </nav>
      {alerts > 0 && <span className="topbar-alerts">{t("alert.count", { n: alerts })}</span>}
      <SyncStatus />
      <span data-testid="connection" data-state={connection} className={`connection connection--${connection}`}>
        {t(`connection.${connection}`)}
      </span>
      <PushToggle />
      <span className="topbar-user">
        {session.username} <span className="muted">({t(`role.${session.role}`)})</span>
      </span>
      <button data-testid="logout" type="button" className="button button--quiet" onClick={onLogout}>
        {t("nav.logout")}
      </button>
    </header>
  );
}
