// A central for component tests: answers typed with the generated API types (a change of central's OpenAPI
// document that breaks them fails the type check), recording the requests it gets; `down` makes the network fail.
import { CentralApi } from "../src/api/client";
import type { Alert, AlertDetail, Camera, Clip, Device, Event, EventDetail, Verdict } from "../src/api/types";

export const ALERT: Alert = {
  id: 7, kind: "camera_offline", subject: "gate-01/gate", device_id: "gate-01", camera: "gate",
  summary: "gate offline for 6 min", detail: {}, opened_at: 1_790_000_000, level: 1, level_at: 1_790_000_000,
  acked_at: null, acked_by: null, resolved_at: null,
};

export const EVENT: Event = {
  device_id: "gate-01", site: "north", event_id: "01JABCDEFGHJKMNPQRSTVWXYZ0", camera: "gate", rule: "entry",
  kind: "enter", zone: "door", label: "person", track_id: 3, alert: true, max_score: 0.9,
  started_at: "2026-12-03T18:00:00+00:00", ended_at: null, has_snapshot: false,
};

export const VERDICT: Verdict = {
  device_id: EVENT.device_id, site: "north", event_id: EVENT.event_id, job_id: "j1", camera: "gate", rule: "entry",
  edge_label: "person", verdict: "not_confirmed", central_label: null, central_track: null, agreement: 0.1,
  started_at: EVENT.started_at, model: "yolox_s", finished_at: EVENT.started_at,
};

export const DEVICES: Device[] = [
  { device_id: "gate-01", site: "north", enrolled_at: "2026-11-01T00:00:00+00:00", revoked_at: null,
    last_seen_at: "2026-12-03T18:00:00+00:00" },
  { device_id: "dock-02", site: null, enrolled_at: "2026-11-01T00:00:00+00:00", revoked_at: null, last_seen_at: null },
];
export const CAMERAS: Camera[] = [
  { device_id: "gate-01", site: "north", camera: "gate", state: "online", since: 1_790_000_000, last_error: null,
    received_at: "2026-12-03T18:00:00+00:00" },
  { device_id: "gate-01", site: "north", camera: "yard", state: "reconnecting", since: 1_790_000_000,
    last_error: "timeout", received_at: "2026-12-03T18:00:00+00:00" },
];

export class FakeCentral {
  requests: { method: string; path: string; body?: unknown; token: string | null }[] = [];
  down = false;
  acked = false;
  comments: { id: number; username: string; body: string; at: number }[] = [];

  fetch = (async (url: string, init?: RequestInit) => {
    if (this.down) throw new TypeError("Network request failed");
    const path = url.replace("http://central/api/v1", "");
    const token = (init?.headers as Record<string, string>)?.Authorization?.replace("Bearer ", "") ?? null;
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    this.requests.push({ method: init?.method ?? "GET", path, body, token });
    if (token !== "good") return json(401, { error: "the access token is unknown, expired or revoked" });
    const alert: Alert = { ...ALERT, acked_at: this.acked ? 1_790_000_100 : null, acked_by: this.acked ? "otto" : null };
    if (path.startsWith("/alerts?")) return json(200, { items: [alert] });
    if (path === "/alerts/7") return json(200, { ...alert, comments: this.comments, audit: [] } satisfies AlertDetail);
    if (path === "/alerts/7/ack") { this.acked = true; return json(200, { alert, acknowledged: true }); }
    if (path === "/alerts/7/comments") {
      const comment = { id: this.comments.length + 1, username: "otto", body: body.body, at: 1_790_000_200 };
      this.comments.push(comment);
      return json(201, comment);
    }
    if (path.startsWith("/devices?")) return json(200, { items: DEVICES, next_cursor: null });
    if (path.startsWith("/cameras?")) return json(200, { items: CAMERAS, next_cursor: null });
    if (path.startsWith("/events?")) return json(200, { items: [EVENT], next_cursor: null });
    const eventPath = `/events/${EVENT.device_id}/${EVENT.event_id}`;
    if (path === eventPath) return json(200, { ...EVENT, verdicts: [VERDICT] } satisfies EventDetail);
    if (path === `${eventPath}/clip`) {
      return json(200, { url: "http://bucket/clip.mp4?X-Amz-Signature=s", expires_at: 1_790_000_300, size: 1000 } satisfies Clip);
    }
    return json(404, { error: "no such route" });
  }) as unknown as typeof fetch;

  api(token = "good", renewed: string | null = "good"): CentralApi {
    let current = token;
    return new CentralApi("http://central", {
      token: async () => current,
      renew: async () => { if (renewed) current = renewed; return renewed; },
    }, this.fetch);
  }
}

function json(status: number, body: unknown): Response {
  return { ok: status < 400, status, json: async () => body } as Response;
}
