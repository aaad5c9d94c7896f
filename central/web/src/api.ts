// Calls to the dashboard's JSON API (/dashboard/api/v1). Errors are thrown as ApiError; a 401 also
// calls the handler set with onUnauthorized (the app shows the login page).

export type Role = "viewer" | "operator" | "admin";

export interface Session {
  username: string;
  role: Role;
  csrf_token: string;
  expires_at: number;
}

export interface CameraHealth {
  camera: string;
  state: string;
  since: number;
  last_error: string | null;
  received_at: number;
}

export interface Device {
  device_id: string;
  site: string | null;
  high_water: number;
  enrolled_at: number | null;
  revoked_at: number | null;
  last_seen_at: number | null;
  online: boolean;
  cameras: CameraHealth[];
  /** The device's latest `metrics` state record, when it sends one (version, backlog, disk). */
  metrics: Record<string, unknown> | null;
}

export interface FleetEvent {
  device_id: string;
  site: string | null;
  id: string;
  camera: string;
  rule: string;
  kind: string;
  zone: string | null;
  label: string;
  alert: boolean;
  max_score: number;
  started_at: number;
  ended_at: number | null;
  received_at: number;
  has_snapshot: boolean;
  /** Its thumbnail is in central's media bucket (thumbnailUrl). */
  has_thumbnail: boolean;
}

export interface DayCount {
  day: string;
  device_id: string;
  site: string | null;
  events: number;
  alerts: number;
}

export interface EventFilters {
  device: string;
  site: string;
  camera: string;
  label: string;
  since: string; // datetime-local value, or ""
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const BASE = "/dashboard/api/v1";
let csrfToken = "";
let unauthorized: () => void = () => {};

export function setCsrfToken(token: string): void {
  csrfToken = token;
}

export function onUnauthorized(handler: () => void): void {
  unauthorized = handler;
}

async function request<T>(method: string, path: string, body?: unknown, reportUnauthorized = true): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  let text: string | undefined;
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    headers["X-CSRF-Token"] = csrfToken;
    text = JSON.stringify(body ?? {});
  }
  const response = await fetch(BASE + path, { method, headers, body: text, credentials: "same-origin" });
  if (!response.ok) {
    let message = response.statusText || `HTTP ${response.status}`;
    try {
      const data: unknown = await response.json();
      if (data && typeof data === "object" && "error" in data && typeof data.error === "string") message = data.error;
    } catch {
      // not JSON: keep the status text
    }
    if (response.status === 401 && reportUnauthorized) unauthorized();
    throw new ApiError(response.status, message);
  }
  return (await response.json()) as T;
}

/** The query string of the events API for `filters` and `page`. */
export function eventQuery(filters: EventFilters, page: number): URLSearchParams {
  const query = new URLSearchParams();
  for (const name of ["device", "site", "camera", "label"] as const) {
    if (filters[name]) query.set(name, filters[name]);
  }
  if (filters.since) query.set("since", String(new Date(filters.since).getTime() / 1000));
  if (page > 0) query.set("page", String(page));
  return query;
}

/** Whether a pushed event belongs on the events list under `filters`. */
export function matches(event: FleetEvent, filters: EventFilters): boolean {
  return (
    (!filters.device || event.device_id === filters.device) &&
    (!filters.site || event.site === filters.site) &&
    (!filters.camera || event.camera === filters.camera) &&
    (!filters.label || event.label === filters.label) &&
    (!filters.since || event.started_at >= new Date(filters.since).getTime() / 1000)
  );
}

export const thumbnailUrl = (event: FleetEvent) =>
  `${BASE}/events/${encodeURIComponent(event.device_id)}/${encodeURIComponent(event.id)}/thumbnail`;

export const api = {
  login: (username: string, password: string) => request<Session>("POST", "/login", { username, password }, false),
  me: () => request<Session>("GET", "/me"),
  logout: () => request<{ logged_out: boolean }>("POST", "/logout"),
  devices: () => request<{ devices: Device[]; online_minutes: number }>("GET", "/devices"),
  setSite: (deviceId: string, site: string) =>
    request<{ device_id: string; site: string }>("PUT", `/devices/${encodeURIComponent(deviceId)}/site`, { site }),
  events: (query: URLSearchParams) =>
    request<{ events: FleetEvent[]; next_page: number | null }>("GET", `/events?${query}`),
  counts: (days: number) => request<{ days: number; counts: DayCount[] }>("GET", `/counts?days=${days}`),
};
