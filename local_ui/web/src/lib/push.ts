// Web Push on this device: the browser's PushManager subscription, registered with the appliance for the logged-in
// user (the appliance forgets it when the user logs out or changes password).
import { api, ApiError } from "../api/client";

export type PushState = "unsupported" | "unavailable" | "off" | "on";

/** The service worker's registration, when this browser can receive pushes at all. */
async function registration(): Promise<ServiceWorkerRegistration | null> {
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) return null;
  return (await navigator.serviceWorker.getRegistration()) ?? null;
}

/** unsupported: not this browser (or no service worker); unavailable: no `push:` on the appliance; on: this browser's
 * subscription is the user's. */
export async function pushState(): Promise<PushState> {
  const reg = await registration();
  if (!reg) return "unsupported";
  try {
    await api.pushKey();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return "unavailable";
    throw error;
  }
  const subscription = await reg.pushManager.getSubscription();
  if (!subscription) return "off";
  const { subscriptions } = await api.pushSubscriptions();
  return subscriptions.some((s) => s.endpoint === subscription.endpoint) ? "on" : "off";
}

export class PushDenied extends Error {}

/** Asks for permission, subscribes with the appliance's VAPID key and registers the subscription. */
export async function enablePush(): Promise<void> {
  const reg = await registration();
  if (!reg) throw new PushDenied("unsupported");
  if ((await Notification.requestPermission()) !== "granted") throw new PushDenied("denied");
  const { application_server_key } = await api.pushKey();
  const old = await reg.pushManager.getSubscription();
  if (old) await old.unsubscribe(); // another user's, or made with an older key
  const subscription = await reg.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: fromBase64Url(application_server_key),
  });
  await api.subscribePush(subscription.toJSON());
}

/** Unregisters this browser's subscription (best effort with the appliance) and drops it. */
export async function disablePush(): Promise<void> {
  const subscription = await (await registration())?.pushManager.getSubscription();
  if (!subscription) return;
  await api.unsubscribePush(subscription.endpoint).catch(() => undefined);
  await subscription.unsubscribe();
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
