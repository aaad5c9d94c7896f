// The events page's filters: as API query parameters, and as a test for events the live connection reports.
import type { VigiaEvent } from "../../api/types";

export interface Filters {
  camera: string;
  label: string;
  zone: string;
  alertsOnly: boolean;
  unacknowledgedOnly: boolean;
  /** `<input type="datetime-local">` values (local time); "" = open. */
  from: string;
  to: string;
}

export const NO_FILTERS: Filters = {
  camera: "",
  label: "",
  zone: "",
  alertsOnly: false,
  unacknowledgedOnly: false,
  from: "",
  to: "",
};

const PAGE_SIZE = 50;

/** Epoch seconds of a datetime-local value, or null. */
export function epochSeconds(local: string): number | null {
  const millis = local ? new Date(local).getTime() : NaN;
  return Number.isFinite(millis) ? millis / 1000 : null;
}

export function toQuery(filters: Filters, until: number | null = null): URLSearchParams {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  const text = { camera: filters.camera.trim(), label: filters.label.trim(), zone: filters.zone.trim() };
  for (const [name, value] of Object.entries(text)) if (value) query.set(name, value);
  if (filters.alertsOnly) query.set("alert", "true");
  if (filters.unacknowledgedOnly) query.set("acknowledged", "false");
  const since = epochSeconds(filters.from);
  const end = until ?? epochSeconds(filters.to);
  if (since !== null) query.set("since", String(since));
  if (end !== null) query.set("until", String(end));
  return query;
}

export function matches(event: VigiaEvent, filters: Filters): boolean {
  const since = epochSeconds(filters.from);
  const until = epochSeconds(filters.to);
  return (
    (!filters.camera.trim() || event.camera === filters.camera.trim()) &&
    (!filters.label.trim() || event.label === filters.label.trim()) &&
    (!filters.zone.trim() || event.zone === filters.zone.trim()) &&
    (!filters.alertsOnly || event.alert) &&
    (!filters.unacknowledgedOnly || event.acknowledged_at === null) &&
    (since === null || event.started_at >= since) &&
    (until === null || event.started_at <= until)
  );
}
