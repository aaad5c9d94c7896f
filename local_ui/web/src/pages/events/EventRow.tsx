import type { VigiaEvent } from "../../api/types";
import { Snapshot } from "../../components/Snapshot";
import { t } from "../../i18n";
import { formatDuration, formatTime } from "../../lib/format";
import { paths } from "../../router";

export function EventRow({ event }: { event: VigiaEvent }) {
  return (
    <li>
      <a
        className={event.alert ? "event-row event-row--alert" : "event-row"}
        href={paths.event(event.id)}
        data-testid="event-row"
        data-event-id={event.id}
      >
        <span className="event-row-thumb">
          <Snapshot event={event} lazy placeholder />
        </span>
        <span className="event-row-what">
          <strong>{event.rule}</strong>
          <span>
            {event.label} · {event.camera}
            {event.zone && ` · ${event.zone}`}
          </span>
        </span>
        <span className="event-row-when">
          <span>{formatTime(event.started_at)}</span>
          <span className="muted">
            {event.ended_at === null ? t("events.ongoing") : formatDuration(event.ended_at - event.started_at)}
          </span>
        </span>
        <EventBadges event={event} />
      </a>
    </li>
  );
}

export function EventBadges({ event }: { event: VigiaEvent }) {
  return (
    <span className="badges">
      {event.alert && <span className="badge badge--alert">{t("events.alert")}</span>}
      {event.acknowledged_at !== null ? (
        <span className="badge badge--ok">{t("events.acknowledgedBy", { user: event.acknowledged_by ?? "?" })}</span>
      ) : (
        event.alert && <span className="badge badge--warn">{t("events.unacknowledged")}</span>
      )}
      {event.keep && <span className="badge">{t("events.kept")}</span>}
    </span>
  );
}
