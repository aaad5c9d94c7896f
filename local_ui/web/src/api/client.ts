// Calls to the appliance's JSON API, through @vigia/web-common/api: errors are thrown as ApiError; a 401 also
// calls the handler set with onUnauthorized (the app sends the user to the login page).
import { createClient, type JsonBody, type JsonReply } from "@vigia/web-common/api";
import type { paths } from "./schema";
import type {
  Comment,
  EventDetail,
  EventFacets,
  EventPage,
  ExportJob,
  Layout,
  LoginChallenge,
  NewCamera,
  ProbeResult,
  Session,
  SetupStatus,
  SyncStatus,
  VigiaEvent,
} from "./types";

export { ApiError, errorOf } from "@vigia/web-common/api";

const { request, setCsrfToken, onUnauthorized } = createClient("");
export { setCsrfToken, onUnauthorized };

const cameraPath = (camera: string) => `/api/v1/cameras/${encodeURIComponent(camera)}`;
const eventPath = (id: string) => `/api/v1/events/${encodeURIComponent(id)}`;

export const api = {
  /** A session, or (202) the challenge a second factor's code must come with (`loginCode`). */
  login: (username: string, password: string) =>
    request<Session | LoginChallenge>("POST", "/api/v1/login", { body: { username, password }, reportUnauthorized: false }),
  loginCode: (challenge: string, code: string) =>
    request<Session>("POST", "/api/v1/login/totp", { body: { challenge, code }, reportUnauthorized: false }),
  totpStatus: () => request<JsonReply<paths["/api/v1/me/totp"]["get"]>>("GET", "/api/v1/me/totp"),
  totpEnrol: () => request<JsonReply<paths["/api/v1/me/totp/enrol"]["post"]>>("POST", "/api/v1/me/totp/enrol"),
  totpConfirm: (code: string) =>
    request<JsonReply<paths["/api/v1/me/totp/confirm"]["post"]>>("POST", "/api/v1/me/totp/confirm", { body: { code } }),
  me: () => request<Session>("GET", "/api/v1/me"),
  logout: () => request<JsonReply<paths["/api/v1/logout"]["post"]>>("POST", "/api/v1/logout"),

  cameras: () => request<JsonReply<paths["/api/v1/cameras"]["get"]>>("GET", "/api/v1/cameras"),
  sync: () => request<SyncStatus>("GET", "/api/v1/sync"),
  frameUrl: (camera: string) => `${cameraPath(camera)}/frame`,
  layout: (camera: string) => request<Layout>("GET", `${cameraPath(camera)}/layout`),
  saveLayout: (camera: string, layout: Pick<Layout, "zones" | "lines" | "rules">) =>
    request<Layout>("PUT", `${cameraPath(camera)}/layout`, { body: layout }),

  events: (query: URLSearchParams, signal?: AbortSignal) =>
    request<EventPage>("GET", `/api/v1/events?${query}`, { signal }),
  eventFacets: () => request<EventFacets>("GET", "/api/v1/events/facets"),
  event: (id: string, signal?: AbortSignal) => request<EventDetail>("GET", eventPath(id), { signal }),
  acknowledge: (id: string, comment: string) =>
    request<VigiaEvent>("POST", `${eventPath(id)}/ack`, { body: comment ? { comment } : {} }),
  addComment: (id: string, text: string) => request<Comment>("POST", `${eventPath(id)}/comments`, { body: { text } }),
  setKeep: (id: string, keep: boolean) =>
    request<JsonReply<paths["/api/v1/events/{id}/keep"]["post"]>>("POST", `${eventPath(id)}/keep`, { body: { keep } }),

  pushKey: () => request<JsonReply<paths["/api/v1/push/key"]["get"]>>("GET", "/api/v1/push/key"),
  pushSubscriptions: () =>
    request<JsonReply<paths["/api/v1/push/subscriptions"]["get"]>>("GET", "/api/v1/push/subscriptions"),
  subscribePush: (subscription: PushSubscriptionJSON) =>
    request<JsonReply<paths["/api/v1/push/subscriptions"]["post"], 201>>("POST", "/api/v1/push/subscriptions", {
      body: subscription,
    }),
  unsubscribePush: (endpoint: string) =>
    request<JsonReply<paths["/api/v1/push/subscriptions"]["delete"]>>("DELETE", "/api/v1/push/subscriptions", {
      body: { endpoint },
    }),

  exports: () => request<JsonReply<paths["/api/v1/exports"]["get"]>>("GET", "/api/v1/exports"),
  startExport: (body: JsonBody<paths["/api/v1/exports"]["post"]>) =>
    request<ExportJob>("POST", "/api/v1/exports", { body }),

  setup: () => request<SetupStatus>("GET", "/api/v1/setup", { reportUnauthorized: false }),
  claim: (claim_code: string, username: string, password: string) =>
    request<Session>("POST", "/api/v1/setup/claim", { body: { claim_code, username, password }, reportUnauthorized: false }),
  discoverCameras: () =>
    request<JsonReply<paths["/api/v1/setup/cameras/discover"]["post"]>>("POST", "/api/v1/setup/cameras/discover"),
  probeCamera: (target: { xaddr: string } | { url: string }, username: string, password: string) =>
    request<ProbeResult>("POST", "/api/v1/setup/cameras/probe", { body: { ...target, username, password } }),
  addCamera: (camera: NewCamera) =>
    request<JsonReply<paths["/api/v1/setup/cameras"]["post"], 201>>("POST", "/api/v1/setup/cameras", { body: camera }),
  enrol: (central_url: string, token: string, ca_pem: string) =>
    request<JsonReply<paths["/api/v1/setup/enrol"]["post"]>>("POST", "/api/v1/setup/enrol", {
      body: { central_url, token, ca_pem },
    }),
  privacyRequests: () =>
    request<JsonReply<paths["/api/v1/privacy/requests"]["get"]>>("GET", "/api/v1/privacy/requests") as Promise<{
      requests: unknown[];
    }>,
  privacyRequest: (body: { kind: "find" | "erase"; camera: string; from: number; to: number; reason: string }) =>
    request<unknown>("POST", "/api/v1/privacy/requests", { body }),
  auditChain: () =>
    request<{ ok: boolean; entries: number; reason: string }>("GET", "/api/v1/privacy/audit/verify"),
  finishSetup: (time_zone: string) =>
    request<JsonReply<paths["/api/v1/setup/finish"]["post"]>>("POST", "/api/v1/setup/finish", { body: { time_zone } }),
};
