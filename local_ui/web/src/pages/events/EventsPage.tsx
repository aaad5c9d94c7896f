import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "../../api/client";
import { t } from "../../i18n";
import { errorMessage, isAbort } from "../../lib/errors";
import { useDebounced } from "../../lib/useDebounced";
import { useEventStream } from "../../live/hooks";
import { EventFilters } from "./EventFilters";
import { EventRow } from "./EventRow";
import { EMPTY_FEED, withLiveEvent, withPage, type Feed } from "./feed";
import { epochSeconds, NO_FILTERS, toQuery, type Filters } from "./filters";
import { Timeline } from "./Timeline";

/** The filters last used, restored when the user comes back from an event. */
let remembered: Filters = NO_FILTERS;

export function EventsPage() {
  const [filters, setFilters] = useState(remembered);
  const applied = useDebounced(filters, 400);
  const [feed, setFeed] = useState<Feed>(EMPTY_FEED);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const request = useRef<AbortController | null>(null);

  /** Loads the first page (until null) or the page from `until` on; a newer request cancels an older one. */
  const loadPage = useCallback(async (query: Filters, until: number | null) => {
    request.current?.abort();
    const controller = new AbortController();
    request.current = controller;
    setLoading(true);
    setError(null);
    try {
      const page = await api.events(toQuery(query, until), controller.signal);
      setFeed((current) => withPage(current, page, until === null));
    } catch (failure) {
      if (isAbort(failure)) return;
      setError(errorMessage(failure));
    }
    setLoading(false);
  }, []);

  useEffect(() => {
    void loadPage(applied, null);
    return () => request.current?.abort();
  }, [applied, loadPage]);

  useEventStream((event) => setFeed((current) => withLiveEvent(current, event, applied)));

  const change = (changed: Filters) => {
    remembered = changed;
    setFilters(changed);
  };

  const { events, next } = feed;
  return (
    <div className="events-page">
      <EventFilters filters={filters} onChange={change} />
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <Timeline events={events} since={epochSeconds(applied.from)} until={epochSeconds(applied.to)} />
      <ul className="event-list">
        {events.map((event) => (
          <EventRow key={event.id} event={event} />
        ))}
      </ul>
      {loading ? (
        <p className="notice">{t("common.loading")}</p>
      ) : events.length === 0 ? (
        <p className="notice">{t("events.none")}</p>
      ) : (
        next && (
          <button type="button" className="button load-more" onClick={() => void loadPage(applied, next.until)}>
            {t("events.loadMore")}
          </button>
        )
      )}
    </div>
  );
}
