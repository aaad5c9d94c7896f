// Central's external API for a signed-in user: bearer token, one refresh on a 401, and a clear error otherwise.
import type { Acknowledged, Alert, AlertDetail, Camera, Clip, Comment, Device, Event, EventDetail, EventFilters, Me, Page } from "./types";

export class ApiError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

/** Thrown when the network cannot be reached: the caller keeps the action queued. */
export class OfflineError extends Error {}

export type Session = {
  /** The current access token. */
  token(): Promise<string | null>;
  /** A new access token after a 401 (refresh); null when the sign-in is over (revoked, expired). */
  renew(): Promise<string | null>;
};

export class CentralApi {
  // fetch called as a method of this object would throw in browsers (Illegal invocation): wrapped.
  constructor(private base: string, private session: Session,
              private fetcher: typeof fetch = (input, init) => fetch(input, init)) {}

  private async call<T>(method: string, path: string, body?: unknown, retried = false): Promise<T> {
    const token = retried ? await this.session.renew() : await this.session.token();
    if (!token) throw new ApiError(401, "signed out");
    let response: Response;
    try {
      response = await this.fetcher(`${this.base}/api/v1${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, Accept: "application/json",
                   ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new OfflineError(String(error));
    }
    if (response.status === 401 && !retried) return this.call<T>(method, path, body, true);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(response.status, (data as { error?: string }).error ?? `HTTP ${response.status}`);
    return data as T;
  }

  me() { return this.call<Me>("GET", "/me"); }
  alerts(state: "open" | "all" = "open") { return this.call<{ items: Alert[] }>("GET", `/alerts?state=${state}`); }
  alert(id: number) { return this.call<AlertDetail>("GET", `/alerts/${id}`); }
  acknowledge(id: number) { return this.call<Acknowledged>("POST", `/alerts/${id}/ack`); }
  comment(id: number, body: string) { return this.call<Comment>("POST", `/alerts/${id}/comments`, { body }); }
  events(filters: EventFilters = {}) {
    const query = Object.entries(filters).filter(([, v]) => v !== undefined && v !== "")
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join("&");
    return this.call<Page<Event>>("GET", `/events${query ? `?${query}` : ""}`);
  }
  event(deviceId: string, eventId: string) {
    return this.call<EventDetail>("GET", `/events/${encodeURIComponent(deviceId)}/${eventId}`);
  }
  clip(deviceId: string, eventId: string) {
    return this.call<Clip>("GET", `/events/${encodeURIComponent(deviceId)}/${eventId}/clip`);
  }
  thumbnail(deviceId: string, eventId: string) {
    return this.call<Clip>("GET", `/events/${encodeURIComponent(deviceId)}/${eventId}/thumbnail`);
  }
  devices() { return this.call<Page<Device>>("GET", "/devices?limit=100"); }
  cameras() { return this.call<Page<Camera>>("GET", "/cameras?limit=100"); }
  registerPush(token: string) { return this.call("PUT", "/push-tokens", { token }); }
}
