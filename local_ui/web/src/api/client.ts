// Calls to the appliance's JSON API. Errors are thrown as ApiError; a 401 also calls the
// handler set with onUnauthorized (the app sends the user to the login page).
import type {
  Camera,
  Comment,
  DiscoveredCamera,
  EventDetail,
  EventPage,
  Layout,
  NewCamera,
  ProbeResult,
  Session,
  SetupStatus,
  SyncStatus,
  VigiaEvent,
} from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Seconds, from a 429's Retry-After header. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

let csrfToken = "";
let unauthorized: () => void = () => {};

export function setCsrfToken(token: string): void {
  csrfToken = token;
}

export function onUnauthorized(handler: () => void): void {
  unauthorized = handler;
}

interface Options {
  body?: unknown;
  signal?: AbortSignal;
  /** false: a 401 is only thrown, not reported to the onUnauthorized handler. */
  reportUnauthorized?: boolean;
}

async function request<T>(method: string, path: string, options: Options = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  let body: string | undefined;
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    headers["X-CSRF-Token"] = csrfToken;
    body = JSON.stringify(options.body ?? {});
  }
  const response = await fetch(path, { method, headers, body, signal: options.signal, credentials: "same-origin" });
  if (!response.ok) {
    const error = await errorOf(response);
    if (error.status === 401 && options.reportUnauthorized !== false) unauthorized();
    throw error;
  }
  return (await response.json()) as T;
}

/** The `{"error": ...}` message of a failed response (or its status text). */
export async function errorOf(response: Response): Promise<ApiError> {
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const data: unknown = await response.json();
    if (data && typeof data === "object" && "error" in data && typeof data.error === "string") message = data.error;
  } catch {
    // not JSON: keep the status text
  }
  const retryAfter = Number(response.headers.get("Retry-After"));
  return new ApiError(response.status, message, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null);
}

const cameraPath = (camera: string) => `/api/v1/cameras/${encodeURIComponent(camera)}`;
const eventPath = (id: string) => `/api/v1/events/${encodeURIComponent(id)}`;

export const api = {
  login: (username: string, password: string) =>
    request<Session>("POST", "/api/v1/login", { body: { username, password }, reportUnauthorized: false }),
  me: () => request<Session>("GET", "/api/v1/me"),
  logout: () => request<{ logged_out: boolean }>("POST", "/api/v1/logout"),

  cameras: () => request<{ cameras: Camera[] }>("GET", "/api/v1/cameras"),
  sync: () => request<SyncStatus>("GET", "/api/v1/sync"),
  frameUrl: (camera: string) => `${cameraPath(camera)}/frame`,
  layout: (camera: string) => request<Layout>("GET", `${cameraPath(camera)}/layout`),
  saveLayout: (camera: string, layout: Pick<Layout, "zones" | "lines" | "rules">) =>
    request<Layout>("PUT", `${cameraPath(camera)}/layout`, { body: layout }),

  events: (query: URLSearchParams, signal?: AbortSignal) =>
    request<EventPage>("GET", `/api/v1/events?${query}`, { signal }),
  event: (id: string, signal?: AbortSignal) => request<EventDetail>("GET", eventPath(id), { signal }),
  acknowledge: (id: string, comment: string) =>
    request<VigiaEvent>("POST", `${eventPath(id)}/ack`, { body: comment ? { comment } : {} }),
  addComment: (id: string, text: string) => request<Comment>("POST", `${eventPath(id)}/comments`, { body: { text } }),
  setKeep: (id: string, keep: boolean) =>
    request<{ id: string; keep: boolean }>("POST", `${eventPath(id)}/keep`, { body: { keep } }),

  setup: () => request<SetupStatus>("GET", "/api/v1/setup", { reportUnauthorized: false }),
  claim: (claim_code: string, username: string, password: string) =>
    request<Session>("POST", "/api/v1/setup/claim", { body: { claim_code, username, password }, reportUnauthorized: false }),
  discoverCameras: () => request<{ devices: DiscoveredCamera[] }>("POST", "/api/v1/setup/cameras/discover"),
  probeCamera: (target: { xaddr: string } | { url: string }, username: string, password: string) =>
    request<ProbeResult>("POST", "/api/v1/setup/cameras/probe", { body: { ...target, username, password } }),
  addCamera: (camera: NewCamera) => request<{ name: string }>("POST", "/api/v1/setup/cameras", { body: camera }),
  enrol: (central_url: string, token: string, ca_pem: string) =>
    request<{ enrolled: boolean; central_url: string }>("POST", "/api/v1/setup/enrol", { body: { central_url, token, ca_pem } }),
  finishSetup: (time_zone: string) => request<{ time_zone: string }>("POST", "/api/v1/setup/finish", { body: { time_zone } }),
};
