import { useEffect, useRef, useState } from "react";
import type { VigiaEvent } from "../api/types";
import { t } from "../i18n";
import { formatTime } from "../lib/format";
import { useAlerts } from "../live/hooks";
import { paths } from "../router";
import { AckForm } from "./AckForm";
import { Snapshot } from "./Snapshot";

/**
 * A red banner per unacknowledged alert; each stays until someone acknowledges it. They are docked
 * at the bottom of the window, over the page, so a new one never moves what the user is about to
 * click; the page keeps room for them at its end (--alerts-height).
 */
export function AlertBanners() {
  const alerts = useAlerts();
  const tray = useRef<HTMLElement>(null);
  useEffect(() => {
    const element = tray.current!;
    const root = document.documentElement;
    const observer = new ResizeObserver(() => root.style.setProperty("--alerts-height", `${element.offsetHeight}px`));
    observer.observe(element);
    return () => {
      observer.disconnect();
      root.style.removeProperty("--alerts-height");
    };
  }, []);
  return (
    <section ref={tray} className="alerts" aria-label={t("alert.list")} aria-live="assertive">
      {alerts.map((alert) => (
        <AlertBanner key={alert.id} alert={alert} />
      ))}
    </section>
  );
}

function AlertBanner({ alert }: { alert: VigiaEvent }) {
  const [acknowledging, setAcknowledging] = useState(false);
  return (
    <div data-testid="alert-banner" data-event-id={alert.id} className="alert-banner">
      <Snapshot event={alert} className="alert-banner-thumb" />
      <a className="alert-banner-text" href={paths.event(alert.id)}>
        <strong>
          <span className="alert-banner-kind">{t("alert.title")}: </span>
          {alert.rule}
        </strong>
        <span>
          {alert.camera} · {alert.label} · {formatTime(alert.started_at)}
        </span>
      </a>
      {acknowledging ? (
        <AckForm eventId={alert.id} onClose={() => setAcknowledging(false)} />
      ) : (
        <button data-testid="alert-ack" type="button" className="button" onClick={() => setAcknowledging(true)}>
          {t("ack.open")}
        </button>
      )}
    </div>
  );
}
