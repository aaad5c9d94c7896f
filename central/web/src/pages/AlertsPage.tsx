// Central alerts (vigia.central.alerts): open ones first, with their level, who acknowledged them and the
// notifications sent; operators acknowledge from here. This browser can subscribe to alert pushes.
import { useCallback, useEffect, useState } from "react";
import { api, type ListedAlert } from "../api";
import { Section } from "../components/Section";
import { errorText } from "../errors";
import { formatAgo, formatTime } from "../format";
import { t } from "../i18n";
import { subscribeToPushes } from "../push";

const REFRESH_EVERY_MS = 15_000;

export function AlertsPage({ canOperate }: { canOperate: boolean }) {
  const [alerts, setAlerts] = useState<ListedAlert[] | null>(null);
  const [all, setAll] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [pushState, setPushState] = useState<string | null>(null);

  const load = useCallback(() => {
    api.alerts(all).then((reply) => {
      setAlerts(reply.alerts);
      setError(null);
    }, (failure) => setError(errorText(failure)));
  }, [all]);

  useEffect(() => {
    load();
    const timer = window.setInterval(load, REFRESH_EVERY_MS);
    return () => window.clearInterval(timer);
  }, [load]);

  const acknowledge = (id: number) => {
    api.acknowledgeAlert(id).then(load, (failure) => setError(errorText(failure)));
  };

  const subscribe = () => {
    subscribeToPushes().then(() => setPushState(t("alerts.pushOn")), (failure) => setPushState(String(failure)));
  };

  return (
    <main className="page" data-testid="alerts-page">
      <div className="page__head">
        <h1>{t("alerts.title")}</h1>
        <label>
          <input type="checkbox" data-testid="alerts-all" checked={all} onChange={(e) => setAll(e.target.checked)} />
          {" "}{t("alerts.showResolved")}
        </label>
        <button data-testid="alerts-push" onClick={subscribe}>{t("alerts.push")}</button>
        {pushState && <span className="muted" data-testid="alerts-push-state">{pushState}</span>}
      </div>
      {error && <p className="notice notice--error" role="alert">{error}</p>}
      <Section title={t("alerts.list")} testId="alerts">
        {alerts === null ? <p className="muted">{t("common.loading")}</p> : alerts.length === 0 ? (
          <p className="muted" data-testid="alerts-none">{t("alerts.none")}</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th>{t("alerts.opened")}</th><th>{t("alerts.kind")}</th><th>{t("alerts.summary")}</th>
                <th>{t("alerts.level")}</th><th>{t("alerts.state")}</th><th>{t("alerts.sent")}</th><th />
              </tr>
            </thead>
            <tbody>
              {alerts.map((alert) => (
                <tr key={alert.id} data-testid="alert-row" data-alert={alert.id} data-kind={alert.kind}
                  data-state={alert.resolved_at ? "resolved" : alert.acked_at ? "acknowledged" : "open"}>
                  <td title={formatTime(alert.opened_at)}>{formatAgo(alert.opened_at)}</td>
                  <td>{t(`alerts.kind.${alert.kind}`)}</td>
                  <td>{alert.summary}</td>
                  <td>{alert.level}</td>
                  <td>{alert.resolved_at ? t("alerts.resolved", { when: formatTime(alert.resolved_at) })
                    : alert.acked_at ? t("alerts.acknowledgedBy", { who: alert.acked_by ?? "" })
                    : t("alerts.open")}</td>
                  <td>{alert.deliveries.map((d) => `${d.channel} (${d.state})`).join(", ") || t("common.none")}</td>
                  <td>
                    {canOperate && !alert.acked_at && !alert.resolved_at && (
                      <button data-testid="alert-ack" onClick={() => acknowledge(alert.id)}>{t("alerts.acknowledge")}</button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </main>
  );
}
