import { useCallback, useEffect, useState } from "react";
import { api, ApiError } from "../../api/client";
import type { EventDetail, VigiaEvent } from "../../api/types";
import { AckForm } from "../../components/AckForm";
import { Snapshot } from "../../components/Snapshot";
import { t } from "../../i18n";
import { errorMessage, isAbort } from "../../lib/errors";
import { formatDuration, formatScore, formatTime } from "../../lib/format";
import { useEventStream } from "../../live/hooks";
import { paths } from "../../router";
import { EventBadges } from "../events/EventRow";
import { ClipPlayer } from "./ClipPlayer";
import { Comments } from "./Comments";
import { KeepToggle } from "./KeepToggle";

const NOT_FOUND_TRIES = 4;

export function EventDetailPage({ id }: { id: string }) {
  const [event, setEvent] = useState<EventDetail | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(
    async (signal?: AbortSignal) => {
      for (let attempt = 1; ; attempt++) {
        try {
          setEvent(await api.event(id, signal));
          return;
        } catch (failure) {
          if (isAbort(failure)) return;
          // The live connection reports an event a moment before it reaches the database.
          if (failure instanceof ApiError && failure.status === 404 && attempt < NOT_FOUND_TRIES) {
            await new Promise((resolve) => window.setTimeout(resolve, 1000));
            if (signal?.aborted) return;
            continue;
          }
          setError(errorMessage(failure));
          return;
        }
      }
    },
    [id],
  );

  useEffect(() => {
    const controller = new AbortController();
    void load(controller.signal);
    return () => controller.abort();
  }, [load]);

  useEventStream((changed, change) => {
    if (changed.id !== id) return;
    if (change === "ack") void load(); // brings the acknowledgement's comment too
    else setEvent((current) => current && { ...current, ...changed });
  });

  if (error) return <p className="notice notice--error">{error}</p>;
  if (!event) return <p className="notice">{t("common.loading")}</p>;
  return (
    <article className="event-detail" data-testid="event-detail">
      <p className="page-links">
        <a href={paths.events}>← {t("detail.back")}</a>
      </p>
      <h1>
        {event.rule} · {event.label}
      </h1>
      <EventBadges event={event} />
      <div className="event-detail-media">
        <ClipPlayer event={event} />
        <Snapshot event={event} className="event-detail-snapshot" alt={t("detail.snapshot")} />
      </div>
      <div className="event-detail-columns">
        <section>
          <Facts event={event} />
          <KeepToggle event={event} onChange={(keep) => setEvent({ ...event, keep })} />
          <Acknowledgement event={event} onAcknowledged={() => void load()} />
        </section>
        <Comments event={event} onAdded={(comment) => setEvent({ ...event, comments: [...event.comments, comment] })} />
      </div>
    </article>
  );
}

function Facts({ event }: { event: VigiaEvent }) {
  const facts: [string, string][] = [
    [t("detail.camera"), event.camera],
    [t("detail.rule"), `${event.rule} (${event.kind})`],
    [t("detail.label"), event.label],
    [t("detail.zone"), event.zone ?? "—"],
    [t("detail.started"), formatTime(event.started_at)],
    [
      t("detail.duration"),
      event.ended_at === null ? t("events.ongoing") : formatDuration(event.ended_at - event.started_at),
    ],
    [t("detail.score"), formatScore(event.max_score)],
  ];
  if (event.track_id !== null) facts.push([t("detail.track"), String(event.track_id)]);
  return (
    <dl className="facts">
      {facts.map(([name, value]) => (
        <div key={name}>
          <dt>{name}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function Acknowledgement({ event, onAcknowledged }: { event: VigiaEvent; onAcknowledged(): void }) {
  const [open, setOpen] = useState(false);
  if (event.acknowledged_at !== null) {
    return (
      <p className="acknowledged">
        {t("detail.acknowledged", { user: event.acknowledged_by ?? "?", time: formatTime(event.acknowledged_at) })}
      </p>
    );
  }
  if (open) {
    return (
      <AckForm
        eventId={event.id}
        onClose={() => {
          setOpen(false);
          onAcknowledged();
        }}
      />
    );
  }
  return (
    <button type="button" className="button button--primary" onClick={() => setOpen(true)}>
      {t("ack.open")}
    </button>
  );
}
