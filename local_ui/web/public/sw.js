// Vigia's service worker: keeps the app shell (index.html, the built assets, the icons) so the
// UI opens on a flaky network, and shows the appliance's Web Push notifications with the app closed.
// It never handles /api/: sessions, alerts, events and video always come from the appliance and are
// never stored here.
const CACHE = "vigia-shell-v1";
const SHELL = ["/", "/manifest.webmanifest", "/icon.svg", "/icon-192.png", "/icon-512.png"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(SHELL);
      await cacheAssetsOf(cache, await cache.match("/"));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  if (request.mode === "navigate" && (url.pathname === "/" || url.pathname === "/index.html")) {
    event.respondWith(newestPage(event));
  } else if (url.pathname.startsWith("/assets/") || SHELL.includes(url.pathname)) {
    event.respondWith(cachedOrFetched(request));
  }
});

/** The page from the network (and remembered), or the remembered one when the appliance cannot be reached. */
async function newestPage(event) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch("/", { cache: "no-cache" });
    if (response.ok) {
      await cache.put("/", response.clone());
      event.waitUntil(cacheAssetsOf(cache, response.clone()));
    }
    return response;
  } catch (error) {
    return (await cache.match("/")) ?? Promise.reject(error);
  }
}

/** Built assets have content hashes in their names: a cached one never goes stale. */
async function cachedOrFetched(request) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

/** Caches the assets `page` (index.html) names and drops those of older builds. */
async function cacheAssetsOf(cache, page) {
  if (!page) return;
  const assets = [...new Set((await page.text()).match(/\/assets\/[^"'\s>]+/g) ?? [])];
  for (const asset of assets) if (!(await cache.match(asset))) await cache.add(asset);
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname;
    if (path.startsWith("/assets/") && !assets.includes(path)) await cache.delete(request);
  }
}

// -- Web Push (vigia.appliance.notify.push) ---------------------------------------------------------------------
// A push carries small JSON: title, body, event, camera, alert, url (the event's page), image (a signed snapshot
// link that works without a session until it expires) and ack {url, token} (acknowledges the event as the
// subscription's user, without a session). One notification per event (its tag): a repeat replaces it.

const ACK_TITLE = (self.navigator.language || "en").toLowerCase().startsWith("pt") ? "Reconhecer" : "Acknowledge";

self.addEventListener("push", (event) => {
  event.waitUntil(showPushed(event.data ? event.data.json() : null));
});

self.addEventListener("notificationclick", (event) => {
  event.waitUntil(onNotificationClick(event.notification, event.action));
});

/** Shows one pushed event; a message without an event (not the appliance's) is ignored. */
async function showPushed(message) {
  if (!message || typeof message.event !== "string") return;
  await self.registration.showNotification(message.title, {
    body: message.body,
    tag: message.event,
    data: message,
    icon: "/icon-192.png",
    image: message.image || undefined,
    timestamp: typeof message.started_at === "number" ? message.started_at * 1000 : undefined,
    requireInteraction: Boolean(message.alert),
    actions: message.ack ? [{ action: "ack", title: ACK_TITLE }] : [],
  });
}

/** The Acknowledge action posts the notification's token; anything else (or a refused token: expired, logged out)
 * opens the event's page, where the guard can log in and acknowledge it. */
async function onNotificationClick(notification, action) {
  const message = notification.data || {};
  notification.close();
  if (action === "ack" && message.ack) {
    const reply = await fetch(message.ack.url, {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ event: message.event, token: message.ack.token }),
    }).catch(() => null);
    if (reply && reply.ok) return;
  }
  await openPage(message.url || "/");
}

/** Focuses an open window of the app on `url`, or opens one. */
async function openPage(url) {
  const target = new URL(url, self.location.origin).href;
  for (const client of await self.clients.matchAll({ type: "window" })) {
    if (new URL(client.url).origin === self.location.origin) {
      await client.focus();
      await client.navigate(target).catch(() => undefined);
      return;
    }
  }
  await self.clients.openWindow(target);
}
