// What the live connection knows: connection state, cameras, unacknowledged alerts, each watched
// camera's latest frame and each camera's layout. Components read it through live/hooks.ts.
import { api } from "../api/client";
import type { Camera, FrameHeader, Layout, VigiaEvent } from "../api/types";
import { beep } from "../lib/beep";
import { newestFirst } from "../lib/events";
import { parseFrame } from "./frames";
import { LiveSocket, type ServerMessage, type Watch } from "./socket";

export type Connection = "live" | "reconnecting";

export interface LiveFrame {
  /** Object URL of the JPEG; revoked two frames later (the <img> may still be loading it until then). */
  url: string;
  header: FrameHeader;
  /** Frames received for this camera since login. */
  count: number;
}

/** How an event reached this client: opened/closed now, acknowledged, or sent after a reconnect. */
export type EventChange = "open" | "close" | "ack" | "missed";
export type EventListener = (event: VigiaEvent, change: EventChange) => void;

type Topic = "connection" | "cameras" | "alerts" | `frame:${string}` | `layout:${string}`;

class LiveStore {
  connection: Connection = "reconnecting";
  cameras: Camera[] = [];
  alerts: VigiaEvent[] = [];
  private frames = new Map<string, LiveFrame>();
  private shownBefore = new Map<string, string>();
  private layouts = new Map<string, Layout | null>(); // null: could not be loaded
  private layoutRequests = new Set<string>();
  private greeted = false;
  private topics = new Map<Topic, Set<() => void>>();
  private eventListeners = new Set<EventListener>();
  private socket = new LiveSocket({
    message: (message) => this.receive(message),
    frame: (data) => this.receiveFrame(data),
    connected: (live) => this.setConnection(live ? "live" : "reconnecting"),
    sessionInDoubt: () => void api.me().catch(() => undefined), // a 401 there sends the user to the login page
  });

  start(): void {
    this.socket.start();
    api
      .cameras()
      .then(({ cameras }) => {
        if (this.greeted) return; // the live connection's list is newer
        this.cameras = cameras;
        this.emit("cameras");
      })
      .catch(() => undefined); // the live connection brings the list too
  }

  /** Closes the connection and forgets everything (logout). */
  stop(): void {
    this.socket.stop();
    for (const camera of this.frames.keys()) this.releaseUrls(camera);
    this.frames.clear();
    this.layouts.clear();
    this.greeted = false;
    this.connection = "reconnecting";
    this.cameras = [];
    this.alerts = [];
    for (const listeners of this.topics.values()) listeners.forEach((listener) => listener());
  }

  subscribe(topic: Topic, listener: () => void): () => void {
    const listeners = this.topics.get(topic) ?? new Set();
    listeners.add(listener);
    this.topics.set(topic, listeners);
    return () => listeners.delete(listener);
  }

  onEvent(listener: EventListener): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Which cameras' live frames to receive; frames of the others are released. */
  watch(watch: Watch): void {
    this.socket.setWatch(watch);
    for (const [camera, frame] of this.frames) {
      if (watch.cameras.includes(camera) || !frame.url) continue;
      this.releaseUrls(camera);
      this.frames.set(camera, { ...frame, url: "" });
      this.emit(`frame:${camera}`);
    }
  }

  /** An event this client acknowledged: drop its banner now, before the server's `ack` message. */
  acknowledged(event: VigiaEvent): void {
    this.event(event, "ack");
  }

  frame(camera: string): LiveFrame | undefined {
    return this.frames.get(camera);
  }

  layout(camera: string): Layout | null | undefined {
    return this.layouts.get(camera);
  }

  loadLayout(camera: string): void {
    if (this.layouts.has(camera) || this.layoutRequests.has(camera)) return;
    this.layoutRequests.add(camera);
    api
      .layout(camera)
      .then((layout) => this.setLayout(camera, layout))
      .catch(() => this.setLayout(camera, null))
      .finally(() => this.layoutRequests.delete(camera));
  }

  setLayout(camera: string, layout: Layout | null): void {
    this.layouts.set(camera, layout);
    this.emit(`layout:${camera}`);
  }

  private releaseUrls(camera: string): void {
    const current = this.frames.get(camera)?.url;
    const before = this.shownBefore.get(camera);
    if (current) URL.revokeObjectURL(current);
    if (before) URL.revokeObjectURL(before);
    this.shownBefore.delete(camera);
  }

  private emit(topic: Topic): void {
    this.topics.get(topic)?.forEach((listener) => listener());
  }

  private setConnection(connection: Connection): void {
    this.connection = connection;
    this.emit("connection");
  }

  private receive(message: ServerMessage): void {
    switch (message.type) {
      case "hello":
        return this.hello(message.cameras, message.alerts, message.missed);
      case "event":
        return this.event(message.event, message.change);
      case "ack":
        return this.event(message.event, "ack");
      case "camera":
        this.cameras = upsert(this.cameras, message.camera, (camera) => camera.name === message.camera.name);
        return this.emit("cameras");
      case "layout":
        return this.setLayout(message.camera, message.layout);
      case "error":
        return console.warn("the live connection refused a request:", message.error);
    }
  }

  private hello(cameras: Camera[], alerts: VigiaEvent[], missed: VigiaEvent[]): void {
    this.cameras = cameras;
    this.emit("cameras");
    const known = new Set(this.alerts.map((alert) => alert.id));
    if (this.greeted && alerts.some((alert) => !known.has(alert.id))) beep();
    this.alerts = newestFirst(alerts);
    this.emit("alerts");
    if (this.greeted) {
      // Layouts may have changed while disconnected: load them again when next shown.
      const cached = [...this.layouts.keys()];
      this.layouts.clear();
      cached.forEach((camera) => this.emit(`layout:${camera}`));
    }
    this.greeted = true;
    for (const event of missed) this.dispatch(event, "missed");
  }

  private event(event: VigiaEvent, change: EventChange): void {
    const index = this.alerts.findIndex((alert) => alert.id === event.id);
    if (event.alert && event.acknowledged_at === null && change !== "ack") {
      if (index < 0 && change === "open") beep();
      this.alerts = newestFirst(upsert(this.alerts, event, (alert) => alert.id === event.id));
      this.emit("alerts");
    } else if (index >= 0) {
      this.alerts = this.alerts.filter((alert) => alert.id !== event.id);
      this.emit("alerts");
    }
    this.dispatch(event, change);
  }

  private dispatch(event: VigiaEvent, change: EventChange): void {
    if (change !== "ack") this.socket.sawEvent(event.id);
    this.eventListeners.forEach((listener) => listener(event, change));
  }

  private receiveFrame(data: ArrayBuffer): void {
    let parsed;
    try {
      parsed = parseFrame(data);
    } catch (error) {
      console.warn("ignored a malformed live frame", error);
      return;
    }
    const camera = parsed.header.camera;
    const previous = this.frames.get(camera);
    const stale = this.shownBefore.get(camera);
    if (stale) URL.revokeObjectURL(stale);
    this.shownBefore.delete(camera);
    if (previous?.url) this.shownBefore.set(camera, previous.url);
    this.frames.set(camera, {
      url: URL.createObjectURL(parsed.jpeg),
      header: parsed.header,
      count: (previous?.count ?? 0) + 1,
    });
    this.emit(`frame:${camera}`);
  }
}

function upsert<T>(items: T[], item: T, same: (existing: T) => boolean): T[] {
  const index = items.findIndex(same);
  return index < 0 ? [...items, item] : items.map((existing, at) => (at === index ? item : existing));
}

export const live = new LiveStore();
