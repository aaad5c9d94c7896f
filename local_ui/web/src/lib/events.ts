import type { VigiaEvent } from "../api/types";

/** Newest first, as the API lists them. */
export function newestFirst(events: VigiaEvent[]): VigiaEvent[] {
  return [...events].sort((a, b) => b.started_at - a.started_at || (a.id < b.id ? 1 : -1));
}
