// The /api/v1/live WebSocket: reconnects with backoff (0.5 s doubling to 10 s), asks for the
// events missed since the newest one seen, and re-sends the current watch after each reconnect.
import type { Camera, Layout, VigiaEvent } from "../api/types";

export type ServerMessage =
  | { type: "hello"; cameras: Camera[]; alerts: VigiaEvent[]; missed: VigiaEvent[] }
  | { type: "event"; change: "open" | "close"; event: VigiaEvent }
  | { type: "ack"; event: VigiaEvent }
  | { type: "camera"; camera: Camera }
  | { type: "layout"; camera: string; layout: Layout }
  | { type: "error"; error: string };

export interface Watch {
  cameras: string[];
  size: "grid" | "full";
}

export interface SocketHandlers {
  message(message: ServerMessage): void;
  frame(data: ArrayBuffer): void;
  /** true once the server said hello, false when the connection drops. */
  connected(live: boolean): void;
  /** The server refused the socket or closed it for the session (it may have ended). */
  sessionInDoubt(): void;
}

const FIRST_DELAY_MS = 500;
const SESSION_ENDED = 4401; // close code: the session was logged out or expired
const MAX_DELAY_MS = 10_000;

export class LiveSocket {
  private socket: WebSocket | null = null;
  private retryTimer: number | undefined;
  private delay = FIRST_DELAY_MS;
  private stopped = false;
  private watch: Watch = { cameras: [], size: "grid" };
  private newestEventId: string | null = null;

  constructor(private readonly handlers: SocketHandlers) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    this.socket?.close();
    this.socket = null;
  }

  setWatch(watch: Watch): void {
    this.watch = watch;
    this.send({ type: "watch", ...watch });
  }

  /** Remember an event id so a reconnect asks only for newer ones (ids are ULIDs: they sort by time). */
  sawEvent(id: string): void {
    if (this.newestEventId === null || id > this.newestEventId) this.newestEventId = id;
  }

  private connect(): void {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const after = this.newestEventId ? `?after=${encodeURIComponent(this.newestEventId)}` : "";
    const socket = new WebSocket(`${scheme}://${window.location.host}/api/v1/live${after}`);
    socket.binaryType = "arraybuffer";
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.send({ type: "watch", ...this.watch });
    };
    socket.onmessage = (message: MessageEvent<string | ArrayBuffer>) => {
      if (typeof message.data !== "string") return this.handlers.frame(message.data);
      const parsed = JSON.parse(message.data) as ServerMessage;
      if (parsed.type === "hello") {
        this.delay = FIRST_DELAY_MS;
        this.handlers.connected(true);
      }
      this.handlers.message(parsed);
    };
    socket.onclose = (close) => {
      if (this.socket !== socket) return; // replaced or stopped
      this.socket = null;
      this.handlers.connected(false);
      if (!opened || close.code === SESSION_ENDED) this.handlers.sessionInDoubt();
      if (!this.stopped) this.retryLater();
    };
    this.socket = socket;
  }

  private retryLater(): void {
    this.retryTimer = window.setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
  }

  private send(message: object): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}
