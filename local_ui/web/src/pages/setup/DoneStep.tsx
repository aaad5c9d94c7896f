import { useEffect, useState } from "react";
import { api } from "../../api/client";
import type { VigiaEvent } from "../../api/types";
import { t } from "../../i18n";
import { formatTime } from "../../lib/format";

const POLL_MS = 1000;

/** Setup is done: the camera's pipeline runs; the first event from it shows here when it comes. */
export function DoneStep({ camera, onDone }: { camera: string | null; onDone(): void }) {
  const [event, setEvent] = useState<VigiaEvent | null>(null);

  useEffect(() => {
    if (!camera || event) return;
    const timer = window.setInterval(() => {
      api.events(new URLSearchParams({ camera, limit: "1" })).then(
        (page) => setEvent(page.events[0] ?? null),
        () => undefined, // the next poll tries again
      );
    }, POLL_MS);
    return () => window.clearInterval(timer);
  }, [camera, event]);

  return (
    <div className="setup-form">
      <h1>{t("setup.done.title")}</h1>
      {camera &&
        (event ? (
          <p data-testid="setup-first-event" data-event-id={event.id} className="success" role="status">
            {t("setup.done.firstEvent", { label: event.label, camera, time: formatTime(event.started_at) })}
          </p>
        ) : (
          <p className="muted">{t("setup.done.waiting", { camera })}</p>
        ))}
      <div className="setup-buttons">
        <button data-testid="setup-done" type="button" className="button button--primary" onClick={onDone}>
          {t("setup.done.live")}
        </button>
      </div>
    </div>
  );
}
