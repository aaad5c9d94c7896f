import type { VigiaEvent } from "../../api/types";
import { t } from "../../i18n";
import { formatTime } from "../../lib/format";
import { paths } from "../../router";

interface Props {
  events: VigiaEvent[];
  /** The filtered period (epoch s); open ends follow the events listed and now. */
  since: number | null;
  until: number | null;
}

/** A strip of the period with a mark per event; a mark opens its event. */
export function Timeline({ events, since, until }: Props) {
  const newest = events[0];
  const oldest = events[events.length - 1];
  if (!newest || !oldest) return null;
  const start = since ?? oldest.started_at;
  const end = until ?? Math.max(Date.now() / 1000, newest.started_at);
  const span = Math.max(end - start, 1);
  return (
    <div className="timeline" role="group" aria-label={t("events.timeline")}>
      <div className="timeline-strip">
        {events.map((event) => (
          <a
            key={event.id}
            href={paths.event(event.id)}
            className={event.alert ? "timeline-mark timeline-mark--alert" : "timeline-mark"}
            style={{ left: `${Math.min(100, Math.max(0, (100 * (event.started_at - start)) / span))}%` }}
            title={`${formatTime(event.started_at)} · ${event.rule} · ${event.label} · ${event.camera}`}
            aria-label={`${formatTime(event.started_at)} ${event.rule} ${event.label} ${event.camera}`}
          />
        ))}
      </div>
      <div className="timeline-scale">
        <span>{formatTime(start)}</span>
        <span>{formatTime(end)}</span>
      </div>
    </div>
  );
}
