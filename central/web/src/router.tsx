// A tiny hash router: #/ (the fleet), #/devices/<id>, #/events/<device>/<event>, #/reanalysis, #/hard-examples,
// #/alerts, #/models, #/models/<id>, #/rollouts/<id>, #/security.
import { useSyncExternalStore, type MouseEvent, type ReactNode } from "react";

export type Route =
  | { page: "fleet" }
  | { page: "device"; deviceId: string }
  | { page: "event"; deviceId: string; eventId: string }
  | { page: "reanalysis" }
  | { page: "hardExamples" }
  | { page: "alerts" }
  | { page: "models" }
  | { page: "model"; modelId: string }
  | { page: "rollout"; rolloutId: number }
  | { page: "security" };

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

export function parseRoute(hash: string): Route {
  const [section = "", first, second] = hash.replace(/^#\/?/, "").split("/").map(decode);
  if (section === "devices" && first) return { page: "device", deviceId: first };
  if (section === "events" && first && second) return { page: "event", deviceId: first, eventId: second };
  if (section === "reanalysis") return { page: "reanalysis" };
  if (section === "hard-examples") return { page: "hardExamples" };
  if (section === "alerts") return { page: "alerts" };
  if (section === "security") return { page: "security" };
  if (section === "models" && first) return { page: "model", modelId: first };
  if (section === "models") return { page: "models" };
  if (section === "rollouts" && first && /^[0-9]+$/.test(first)) return { page: "rollout", rolloutId: Number(first) };
  return { page: "fleet" };
}

export const paths = {
  fleet: "#/",
  device: (deviceId: string) => `#/devices/${encodeURIComponent(deviceId)}`,
  event: (deviceId: string, eventId: string) => `#/events/${encodeURIComponent(deviceId)}/${encodeURIComponent(eventId)}`,
  reanalysis: "#/reanalysis",
  hardExamples: "#/hard-examples",
  alerts: "#/alerts",
  security: "#/security",
  models: "#/models",
  model: (modelId: string) => `#/models/${encodeURIComponent(modelId)}`,
  rollout: (rolloutId: number) => `#/rollouts/${rolloutId}`,
};

export function navigate(path: string): void {
  window.location.hash = path;
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener("hashchange", onChange);
  return () => window.removeEventListener("hashchange", onChange);
}

export function useRoute(): Route {
  const hash = useSyncExternalStore(subscribe, () => window.location.hash);
  return parseRoute(hash);
}

/** A link to `to` that stops the click there (so a clickable table row around it does not also navigate). */
export function Link(props: { to: string; children: ReactNode; className?: string; testId?: string }) {
  const stop = (event: MouseEvent) => event.stopPropagation();
  return (
    <a href={props.to} className={props.className} data-testid={props.testId} onClick={stop}>{props.children}</a>
  );
}
