// Calls to the dashboard's JSON API (/dashboard/api/v1). Errors are thrown as ApiError; a 401 also
// calls the handler set with onUnauthorized (the app shows the login page). The client: @vigia/web-common/api.
import { createClient, type JsonReply } from "@vigia/web-common/api";
import type { components, paths } from "./schema";

// The JSON's shapes, generated from central/dashboard/openapi.py into schema.ts (`npm run api-types`).
type Schemas = components["schemas"];
export type Session = Schemas["Session"];
export type LoginChallenge = Schemas["LoginChallenge"];
export type TotpEnrolment = Schemas["TotpEnrolment"];
export type Role = Session["role"];
export type CameraHealth = Schemas["CameraHealth"];
export type Device = Schemas["Device"];
export type FleetEvent = Schemas["FleetEvent"];
export type DayCount = Schemas["DayCount"];
export type LiveMessage = Schemas["LiveMessage"];
export type EventReanalysis = Schemas["EventReanalysis"];
export type EdgeView = Schemas["EdgeView"];
export type CentralTrack = Schemas["CentralTrack"];
export type CentralEvent = Schemas["CentralEvent"];
export type Job = Schemas["Job"];
export type Disagreement = Schemas["Disagreement"];
export type CameraRate = Schemas["CameraRate"];
export type JobQueue = Schemas["JobQueue"];
export type DeviceDetail = Schemas["DeviceDetail"];
export type MetricsRollup = Schemas["MetricsRollup"];
export type Command = Schemas["Command"];
export type HardExample = Schemas["HardExample"];
export type HardExampleLabel = HardExample["labels"][number];
export type ListedAlert = Schemas["ListedAlert"];
export type SsoInfo = Schemas["SsoInfo"];
export type Model = Schemas["Model"];
export type ListedModel = Schemas["ListedModel"];
export type ModelAudit = Schemas["ModelAudit"];
export type Rollout = Schemas["Rollout"];
export type RolloutDevice = Schemas["RolloutDevice"];
export type ModelHealth = Schemas["ModelHealth"];
/** A rollout's start, as the form sends it. */
export type RolloutRequest = Partial<NonNullable<
  paths["/dashboard/api/v1/models/{model_id}/rollouts"]["post"]["requestBody"]
>["content"]["application/json"]>;
export type RolloutSummary = Schemas["RolloutSummary"];
export type Box = EdgeView["box"];
export type PathPoint = EdgeView["path"][number];

/** The disagreements list's filters, as the form holds them. */
export interface DisagreementFilters {
  device: string;
  site: string;
  camera: string;
  label: string;
  kind: "" | Disagreement["kind"];
}

/** The events list's filters, as the form holds them. */
export interface EventFilters {
  device: string;
  site: string;
  camera: string;
  label: string;
  since: string; // datetime-local value, or ""
}

export { ApiError } from "@vigia/web-common/api";

const BASE = "/dashboard/api/v1";
/** Where the single sign-on button goes: the dashboard redirects the browser on to the provider. */
export const SSO_LOGIN_URL = `${BASE}/sso/login`;
const { request, setCsrfToken, onUnauthorized } = createClient(BASE);
export { setCsrfToken, onUnauthorized };

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

/** The query string of the disagreements API for `filters` and `page`. */
export function disagreementQuery(filters: DisagreementFilters, page: number): URLSearchParams {
  const query = new URLSearchParams();
  for (const name of ["device", "site", "camera", "label", "kind"] as const) {
    if (filters[name]) query.set(name, filters[name]);
  }
  if (page > 0) query.set("page", String(page));
  return query;
}

const eventPath = (deviceId: string, eventId: string) =>
  `/events/${encodeURIComponent(deviceId)}/${encodeURIComponent(eventId)}`;

export const thumbnailUrl = (event: { device_id: string; id: string }) => `${BASE}${eventPath(event.device_id, event.id)}/thumbnail`;

export const hardExampleImageUrl = (id: number) => `${BASE}/hard-examples/${id}/image`;

type Get<Path extends keyof paths> = paths[Path] extends { get: infer Operation } ? JsonReply<Operation> : never;

export const api = {
  /** A session, or (202) the challenge a second factor's code must come with (`loginCode`). */
  login: (username: string, password: string) =>
    request<Session | LoginChallenge>("POST", "/login", { body: { username, password }, reportUnauthorized: false }),
  loginCode: (challenge: string, code: string) =>
    request<Session>("POST", "/login/totp", { body: { challenge, code }, reportUnauthorized: false }),
  totpStatus: () => request<Schemas["TotpStatus"]>("GET", "/me/totp"),
  totpEnrol: () => request<TotpEnrolment>("POST", "/me/totp/enrol"),
  totpConfirm: (code: string) => request<Schemas["TotpEnabled"]>("POST", "/me/totp/confirm", { body: { code } }),
  me: () => request<Session>("GET", "/me"),
  sso: () => request<SsoInfo>("GET", "/sso", { reportUnauthorized: false }),
  logout: () => request<JsonReply<paths["/dashboard/api/v1/logout"]["post"]>>("POST", "/logout"),
  devices: () => request<JsonReply<paths["/dashboard/api/v1/devices"]["get"]>>("GET", "/devices"),
  setSite: (deviceId: string, site: string) =>
    request<JsonReply<paths["/dashboard/api/v1/devices/{device_id}/site"]["put"]>>(
      "PUT",
      `/devices/${encodeURIComponent(deviceId)}/site`,
      { body: { site } },
    ),
  events: (query: URLSearchParams) =>
    request<JsonReply<paths["/dashboard/api/v1/events"]["get"]>>("GET", `/events?${query}`),
  counts: (days: number) => request<JsonReply<paths["/dashboard/api/v1/counts"]["get"]>>("GET", `/counts?days=${days}`),
  device: (deviceId: string, days: number) =>
    request<Get<"/dashboard/api/v1/devices/{device_id}">>("GET", `/devices/${encodeURIComponent(deviceId)}?days=${days}`),
  clip: (deviceId: string, eventId: string) =>
    request<Get<"/dashboard/api/v1/events/{device_id}/{event_id}/clip">>("GET", `${eventPath(deviceId, eventId)}/clip`),
  reanalysis: (deviceId: string, eventId: string) =>
    request<EventReanalysis>("GET", `${eventPath(deviceId, eventId)}/reanalysis`),
  requestReanalysis: (deviceId: string, eventId: string) =>
    request<JsonReply<paths["/dashboard/api/v1/events/{device_id}/{event_id}/reanalysis"]["post"], 202>>(
      "POST",
      `${eventPath(deviceId, eventId)}/reanalysis`,
    ),
  disagreements: (query: URLSearchParams) =>
    request<Get<"/dashboard/api/v1/reanalysis/disagreements">>("GET", `/reanalysis/disagreements?${query}`),
  rates: (days: number) => request<Get<"/dashboard/api/v1/reanalysis/rates">>("GET", `/reanalysis/rates?days=${days}`),
  queue: () => request<JobQueue>("GET", "/reanalysis/queue"),
  hardExamples: (query: URLSearchParams) => request<Get<"/dashboard/api/v1/hard-examples">>("GET", `/hard-examples?${query}`),
  reviewHardExample: (id: number, decision: "accepted" | "rejected" | "fixed", labels?: HardExampleLabel[]) =>
    request<HardExample>("POST", `/hard-examples/${id}/review`, { body: labels ? { decision, labels } : { decision } }),
  alerts: (all: boolean) => request<Get<"/dashboard/api/v1/alerts">>("GET", `/alerts?all=${all ? 1 : 0}`),
  acknowledgeAlert: (id: number) =>
    request<JsonReply<paths["/dashboard/api/v1/alerts/{alert_id}/ack"]["post"]>>("POST", `/alerts/${id}/ack`),
  models: () => request<Get<"/dashboard/api/v1/models">>("GET", "/models"),
  model: (id: string) => request<Get<"/dashboard/api/v1/models/{model_id}">>("GET", `/models/${encodeURIComponent(id)}`),
  approveModel: (id: string, override: boolean) =>
    request<Model>("POST", `/models/${encodeURIComponent(id)}/approve`, { body: override ? { override } : {} }),
  retireModel: (id: string) => request<Model>("POST", `/models/${encodeURIComponent(id)}/retire`),
  startRollout: (id: string, body: RolloutRequest) =>
    request<Rollout>("POST", `/models/${encodeURIComponent(id)}/rollouts`, { body }),
  rollout: (id: number) => request<Rollout>("GET", `/rollouts/${id}`),
  pauseRollout: (id: number) => request<Rollout>("POST", `/rollouts/${id}/pause`),
  resumeRollout: (id: number) => request<Rollout>("POST", `/rollouts/${id}/resume`),
  pushKey: () => request<Get<"/dashboard/api/v1/alerts/push/key">>("GET", "/alerts/push/key"),
  subscribePushes: (subscription: { endpoint: string; keys: { p256dh: string; auth: string } }) =>
    request<JsonReply<paths["/dashboard/api/v1/alerts/push/subscriptions"]["post"], 201>>(
      "POST", "/alerts/push/subscriptions", { body: subscription },
    ),
};
