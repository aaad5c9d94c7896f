// Alert pushes on this browser: the service worker (public/sw.js) registered, a PushManager subscription made with
// central's VAPID key and given to the dashboard for the logged-in user.
import { api } from "./api";

function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4));
  const bytes = new Uint8Array(new ArrayBuffer(text.length));
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

export async function subscribeToPushes(): Promise<void> {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) throw new Error("this browser has no Web Push");
  if ((await Notification.requestPermission()) !== "granted") throw new Error("notifications are not allowed");
  const registration = await navigator.serviceWorker.register("/dashboard/sw.js", { scope: "/dashboard/" });
  const { application_server_key } = await api.pushKey();
  const subscription = await registration.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: keyBytes(application_server_key),
  });
  const json = subscription.toJSON();
  await api.subscribePushes({
    endpoint: json.endpoint ?? subscription.endpoint,
    keys: { p256dh: json.keys?.p256dh ?? "", auth: json.keys?.auth ?? "" },
  });
}
