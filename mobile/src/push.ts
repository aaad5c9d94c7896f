// Push notifications (native only): this phone's Expo push token registered with central for the signed-in user,
// and the Acknowledge action on the notification (the alert's acknowledge token: works without opening the app).
import * as Notifications from "expo-notifications";
import { Platform } from "react-native";

import type { CentralApi } from "./api/client";

export const CATEGORY = "vigia-alert";

export async function registerForPush(api: CentralApi, acknowledgeTitle: string): Promise<string | null> {
  if (Platform.OS === "web") return null;
  const permission = await Notifications.requestPermissionsAsync();
  if (!permission.granted) return null;
  await Notifications.setNotificationCategoryAsync(CATEGORY, [
    { identifier: "acknowledge", buttonTitle: acknowledgeTitle, options: { opensAppToForeground: false } },
  ]);
  const token = (await Notifications.getExpoPushTokenAsync()).data;
  await api.registerPush(token);
  return token;
}

type AlertData = { alert?: { id: number }; ack?: { url: string; token: string } | null };

/** The alert a tapped notification is about; its Acknowledge action posts the notification's token first. */
export function onNotificationResponse(open: (alertId: number) => void): () => void {
  if (Platform.OS === "web") return () => undefined;
  const subscription = Notifications.addNotificationResponseReceivedListener(async (response) => {
    const data = response.notification.request.content.data as AlertData;
    if (response.actionIdentifier === "acknowledge" && data.ack) {
      await fetch(data.ack.url, { method: "POST", headers: { "Content-Type": "application/json" },
                                  body: JSON.stringify({ token: data.ack.token }) }).catch(() => undefined);
    }
    if (data.alert) open(data.alert.id);
  });
  return () => subscription.remove();
}
