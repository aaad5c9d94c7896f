// The events listed: pages from the API merged with what the live connection reports.
import type { EventPage, VigiaEvent } from "../../api/types";
import { newestFirst } from "../../lib/events";
import { matches, type Filters } from "./filters";

export interface Feed {
  events: VigiaEvent[];
  /** Where the next page starts; null when the list reaches the oldest matching event. */
  next: EventPage["next"];
}

/** The most events kept listed: live events push the oldest out (they come back with "load more"). */
const MAX_LISTED = 500;

export const EMPTY_FEED: Feed = { events: [], next: null };

/** The feed with one more page appended (`page` follows `feed`) or as the first page. */
export function withPage(feed: Feed, page: EventPage, first: boolean): Feed {
  if (first) return page;
  const known = new Set(feed.events.map((event) => event.id));
  return { events: [...feed.events, ...page.events.filter((event) => !known.has(event.id))], next: page.next };
}

/**
 * The feed after the live connection reported `event`: updated in place, removed if it no longer
 * matches, or added in time order if it falls within what the list covers.
 */
export function withLiveEvent(feed: Feed, event: VigiaEvent, filters: Filters): Feed {
  const { events } = feed;
  const index = events.findIndex((existing) => existing.id === event.id);
  if (!matches(event, filters)) {
    return index < 0 ? feed : { ...feed, events: events.filter((existing) => existing.id !== event.id) };
  }
  if (index >= 0) return { ...feed, events: events.map((existing, at) => (at === index ? event : existing)) };
  const oldest = events[events.length - 1];
  if (feed.next !== null && oldest && event.started_at < oldest.started_at) return feed; // beyond the loaded pages
  const added = newestFirst([event, ...events]);
  if (added.length <= MAX_LISTED) return { ...feed, events: added };
  const kept = added.slice(0, MAX_LISTED);
  return { events: kept, next: { until: kept[kept.length - 1]!.started_at } };
}
