// Vigia's service worker: keeps the app shell (index.html, the built assets, the icons) so the
// UI opens on a flaky network. It never handles /api/: sessions, alerts, events and video always
// come from the appliance and are never stored here.
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
