// The dashboard's service worker: central alerts by Web Push (vigia.central.alerts.channels.push), shown with the tab
// closed. A push is JSON: key, change (raised | resolved), level, title, alert {id, summary, ...} and ack {url, token}
// (acknowledges the alert without a session until it expires). One notification per alert (its tag): a later
// level or the resolution replaces it.

const ACK_TITLE = (self.navigator.language || "en").toLowerCase().startsWith("pt") ? "Reconhecer" : "Acknowledge";

self.addEventListener("push", (event) => {
  event.waitUntil(showPushed(event.data ? event.data.json() : null));
});

self.addEventListener("notificationclick", (event) => {
  event.waitUntil(onNotificationClick(event.notification, event.action));
});

async function showPushed(message) {
  if (!message || !message.alert || typeof message.alert.id !== "number") return;
  await self.registration.showNotification(message.title, {
    body: message.alert.summary,
    tag: `alert-${message.alert.id}`,
    data: message,
    icon: "/dashboard/icon.svg",
    requireInteraction: message.change === "raised",
    actions: message.ack ? [{ action: "ack", title: ACK_TITLE }] : [],
  });
}

/** The Acknowledge action posts the token; anything else (or a refused token) opens the alerts page. */
async function onNotificationClick(notification, action) {
  const message = notification.data || {};
  notification.close();
  if (action === "ack" && message.ack) {
    const reply = await fetch(message.ack.url, {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: message.ack.token }),
    }).catch(() => null);
    if (reply && reply.ok) return;
  }
  const target = new URL("/dashboard/#/alerts", self.location.origin).href;
  for (const client of await self.clients.matchAll({ type: "window" })) {
    if (new URL(client.url).origin === self.location.origin) {
      await client.focus();
      await client.navigate(target).catch(() => undefined);
      return;
    }
  }
  await self.clients.openWindow(target);
}
