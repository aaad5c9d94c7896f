import { useEffect, useRef, useState } from "react";
import type { VigiaEvent } from "../api/types";
import { t } from "../i18n";
import { formatTime } from "../lib/format";
import { useAlerts } from "../live/hooks";
import { paths } from "../router";
import { AckForm } from "./AckForm";
import { Snapshot } from "./Snapshot";

/**
 * The unacknowledged alerts, docked at the bottom of the window over the page, so a new one never moves what the
 * user is about to click; the page keeps room for them at its end (--alerts-height). One bar shows the newest, with
 * the count of the others below it; that count opens the whole list (each stays until someone acknowledges it). The
 * count stays on the tray's bottom edge: the open list grows upwards as alerts arrive, and must not move the button
 * that closes it from under the pointer.
 */
export function AlertBanners() {
  const alerts = useAlerts();
  const [open, setOpen] = useState(false);
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
  const others = alerts.length - 1;
  const shown = open ? alerts : alerts.slice(0, 1);
  return (
    <section
      ref={tray}
      className={open ? "alerts alerts--open" : "alerts"}
      aria-label={t("alert.list")}
      aria-live="assertive"
    >
      {shown.map((alert) => (
        <AlertBanner key={alert.id} alert={alert} />
      ))}
      {others > 0 && (
        <button
          type="button"
          data-testid="alert-more"
          className="alerts-toggle"
          aria-expanded={open}
          onClick={() => setOpen(!open)}
        >
          {open ? t("alert.less") : t("alert.more", { n: others })}
        </button>
      )}
    </section>
  );
}

function AlertBanner({ alert }: { alert: VigiaEvent }) {
  const [acknowledging, setAcknowledging] = useState(false);
  return (
    <div data-testid="alert-banner" data-event-id={alert.id} className="alert-banner">
      <Snapshot event={alert} className="alert-banner-thumb" placeholder />
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
