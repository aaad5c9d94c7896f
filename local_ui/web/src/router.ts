// A tiny hash router: #/live, #/live/<camera>, #/events, #/events/<id>, #/zones, #/zones/<camera>, #/setup, #/privacy, #/security, #/login.
import { useSyncExternalStore } from "react";

export type Route =
  | { page: "login" }
  | { page: "live" }
  | { page: "camera"; camera: string }
  | { page: "events" }
  | { page: "event"; id: string }
  | { page: "zones" }
  | { page: "zone"; camera: string }
  | { page: "setup" }
  | { page: "privacy" }
  | { page: "security" };

export function parseRoute(hash: string): Route {
  const [section = "", param] = hash.replace(/^#\/?/, "").split("/").map(decode);
  switch (section) {
    case "login":
      return { page: "login" };
    case "events":
      return param ? { page: "event", id: param } : { page: "events" };
    case "zones":
      return param ? { page: "zone", camera: param } : { page: "zones" };
    case "setup":
      return { page: "setup" };
    case "privacy":
      return { page: "privacy" };
    case "security":
      return { page: "security" };
    default:
      return param && section === "live" ? { page: "camera", camera: param } : { page: "live" };
  }
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

export const paths = {
  login: "#/login",
  live: "#/live",
  camera: (name: string) => `#/live/${encodeURIComponent(name)}`,
  events: "#/events",
  event: (id: string) => `#/events/${encodeURIComponent(id)}`,
  zones: "#/zones",
  zone: (camera: string) => `#/zones/${encodeURIComponent(camera)}`,
  setup: "#/setup",
  privacy: "#/privacy",
  security: "#/security",
};

export function navigate(path: string): void {
  window.location.hash = path;
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener("hashchange", onChange);
  return () => window.removeEventListener("hashchange", onChange);
}

export function useHash(): string {
  return useSyncExternalStore(subscribe, () => window.location.hash);
}
