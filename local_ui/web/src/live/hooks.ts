// React hooks over the live store.
import { useEffect, useRef, useSyncExternalStore } from "react";
import type { Camera, Layout, VigiaEvent } from "../api/types";
import type { Watch } from "./socket";
import { live, type Connection, type EventListener, type LiveFrame } from "./store";

export function useConnection(): Connection {
  return useSyncExternalStore((onChange) => live.subscribe("connection", onChange), () => live.connection);
}

export function useCameras(): Camera[] {
  return useSyncExternalStore((onChange) => live.subscribe("cameras", onChange), () => live.cameras);
}

export function useAlerts(): VigiaEvent[] {
  return useSyncExternalStore((onChange) => live.subscribe("alerts", onChange), () => live.alerts);
}

export function useFrame(camera: string): LiveFrame | undefined {
  return useSyncExternalStore(
    (onChange) => live.subscribe(`frame:${camera}`, onChange),
    () => live.frame(camera),
  );
}

/** The camera's zones, lines and rules; undefined while loading, null if they could not be loaded. */
export function useLayout(camera: string): Layout | null | undefined {
  const layout = useSyncExternalStore(
    (onChange) => live.subscribe(`layout:${camera}`, onChange),
    () => live.layout(camera),
  );
  useEffect(() => {
    if (layout === undefined) live.loadLayout(camera);
  }, [camera, layout]);
  return layout;
}

/** Receive these cameras' live frames while the calling component is shown. */
export function useWatch(cameras: string[], size: Watch["size"]): void {
  const key = cameras.join("\n");
  useEffect(() => {
    live.watch({ cameras: key ? key.split("\n") : [], size });
    return () => live.watch({ cameras: [], size });
  }, [key, size]);
}

/** Calls `listener` for every event the live connection reports while mounted. */
export function useEventStream(listener: EventListener): void {
  const latest = useRef(listener);
  useEffect(() => {
    latest.current = listener;
  });
  useEffect(() => live.onEvent((event, change) => latest.current(event, change)), []);
}
