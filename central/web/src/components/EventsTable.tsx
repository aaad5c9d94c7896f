// Events, newest first; a row opens the event (its thumbnail, clip and central's word on it).
import { thumbnailUrl, type FleetEvent } from "../api";
import { formatTime } from "../format";
import { t } from "../i18n";
import { Link, navigate, paths } from "../router";

export function EventsTable({ events }: { events: FleetEvent[] }) {
  if (events.length === 0) return <p className="muted">{t("events.none")}</p>;
  return (
    <div className="scroll">
      <table data-testid="events">
        <thead>
          <tr>
            <th /><th>{t("events.time")}</th><th>{t("devices.device")}</th><th>{t("devices.site")}</th>
            <th>{t("events.camera")}</th><th>{t("events.label")}</th><th>{t("events.rule")}</th><th>{t("events.score")}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {events.map((event) => (
            <tr key={`${event.device_id}/${event.id}`} data-testid="event-row" data-device-id={event.device_id}
              data-event-id={event.id} className={`clickable${event.alert ? " alert" : ""}`}
              onClick={() => navigate(paths.event(event.device_id, event.id))}>
              <td className="thumb-cell">
                {event.has_thumbnail && (
                  <img className="thumb" data-testid="event-thumbnail" src={thumbnailUrl(event)} loading="lazy"
                    alt={t("events.thumbnail", { camera: event.camera })} />
                )}
              </td>
              <td>
                <Link to={paths.event(event.device_id, event.id)} testId="event-open">{formatTime(event.started_at)}</Link>
              </td>
              <td>{event.device_id}</td><td>{event.site ?? t("common.none")}</td>
              <td>{event.camera}</td><td>{event.label}</td><td>{event.rule}</td><td>{event.max_score.toFixed(2)}</td>
              <td>
                {event.alert && <span className="badge badge--alert">{t("events.alert")}</span>}
                {event.has_snapshot && <span className="badge">{t("events.snapshot")}</span>}
                {event.has_clip && <span className="badge" data-testid="event-has-clip">{t("events.clip")}</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
