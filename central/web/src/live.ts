// The live WebSocket (/dashboard/api/v1/live): new events and device changes, pushed by central as
// batches are ingested. Reconnects with backoff (1 s doubling to 30 s) until stopped.
import type { LiveMessage } from "./api";

export type { LiveMessage };

export type LiveState = "connecting" | "open" | "closed";

export function connectLive(onMessage: (message: LiveMessage) => void, onState: (state: LiveState) => void): () => void {
  let socket: WebSocket | null = null;
  let stopped = false;
  let delay = 1000;
  let timer: number | undefined;

  const open = () => {
    onState("connecting");
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${window.location.host}/dashboard/api/v1/live`);
    socket.onopen = () => {
      delay = 1000;
      onState("open");
    };
    socket.onmessage = (event: MessageEvent<string>) => onMessage(JSON.parse(event.data) as LiveMessage);
    socket.onclose = () => {
      onState("closed");
      if (stopped) return;
      timer = window.setTimeout(open, delay);
      delay = Math.min(delay * 2, 30_000);
    };
  };
  open();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
    socket?.close();
  };
}
