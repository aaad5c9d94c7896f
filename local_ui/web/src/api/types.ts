// The shapes of the appliance's /api/v1 JSON (see local_ui/server.py).

export type Role = "guard" | "installer" | "admin";

/** GET /api/v1/sync: enrolment with central and the outbox backlog. */
export interface SyncStatus {
  enrolled: boolean;
  central_url: string | null;
  backlog: number;
  by_kind: Record<string, number>;
  oldest_at: number | null;
  dropped: number;
}

export interface Session {
  username: string;
  role: Role;
  csrf_token: string;
  expires_at: number;
}

export type CameraState = "online" | "reconnecting" | "offline" | "ended" | "stopped" | "starting" | "disabled";

export interface Camera {
  name: string;
  enabled: boolean;
  /** The recording mode. */
  recording: "off" | "events" | "continuous";
  state: CameraState;
  since: number | null;
  last_error: string | null;
  last_frame_at: number | null;
  width: number | null;
  height: number | null;
}

/** Normalised image coordinates: 0..1, origin top left. */
export type Point = [number, number];

export interface Zone {
  name: string;
  polygon: Point[];
  classes: string[] | null;
}

export interface Line {
  name: string;
  points: [Point, Point];
}

export type RuleType = "enter" | "loiter" | "cross" | "count" | "present";
export type Direction = "any" | "left_to_right" | "right_to_left";

export interface Rule {
  name: string;
  type: RuleType;
  zone: string | null;
  line: string | null;
  direction: Direction;
  seconds: number | null;
  count: number | null;
  classes: string[] | null;
  alert: boolean;
}

export interface Layout {
  camera: string;
  /** The camera's frame size; null before its first frame. */
  width: number | null;
  height: number | null;
  zones: Zone[];
  lines: Line[];
  rules: Rule[];
}

export interface VigiaEvent {
  id: string;
  camera: string;
  rule: string;
  kind: string;
  zone: string | null;
  label: string;
  track_id: number | null;
  start: number;
  end: number | null;
  started_at: number;
  ended_at: number | null;
  max_score: number;
  box: [number, number, number, number];
  alert: boolean;
  path: Point[];
  keep: boolean;
  acknowledged_at: number | null;
  acknowledged_by: string | null;
  snapshot_url: string | null;
  clip_url: string;
}

export interface Comment {
  id: number | string;
  at: number;
  username: string;
  kind: "comment" | "ack";
  text: string;
}

export interface EventDetail extends VigiaEvent {
  comments: Comment[];
}

export interface EventPage {
  events: VigiaEvent[];
  next: { until: number } | null;
}

export interface Track {
  id: number;
  label: string;
  score: number;
  box: [number, number, number, number];
}

/** The JSON header of one binary live frame. */
export interface FrameHeader {
  camera: string;
  captured_at: number;
  width: number;
  height: number;
  tracks: Track[];
}

/** GET /api/v1/setup (public): setup mode and the appliance's clock. */
export interface SetupStatus {
  state: "unclaimed" | "ready";
  device: string;
  /** Epoch seconds on the appliance's clock when it answered. */
  server_time: number;
  time_zone: string | null;
  finished_at: number | null;
  cameras: string[];
  enrolled: boolean;
}

export interface DiscoveredCamera {
  endpoint: string;
  xaddr: string;
  address: string;
  name: string | null;
  hardware: string | null;
}

export interface StreamProfile {
  token: string;
  name: string;
  encoding: string | null;
  width: number | null;
  height: number | null;
  url: string;
}

/** POST /api/v1/setup/cameras/probe: a stream tested (and the ONVIF profiles, when asked by xaddr). */
export interface ProbeResult {
  profiles: StreamProfile[] | null;
  url: string;
  codec: string;
  width: number;
  height: number;
  fps: number | null;
  /** data:image/jpeg;base64,... */
  preview: string;
}

export type RecordMode = "off" | "events" | "continuous";

export interface NewCamera {
  name: string;
  url: string;
  username: string;
  password: string;
  record: RecordMode;
  retain_days: number;
}
