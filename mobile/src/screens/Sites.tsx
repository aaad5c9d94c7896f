// Sites and their devices, with each device's health and its cameras'.
import { useEffect, useState } from "react";
import { ScrollView, Text } from "react-native";

import { CentralApi } from "../api/client";
import type { Camera, Device } from "../api/types";
import { Card, styles } from "../components/ui";
import type { Texts } from "../i18n";
import type { Colors } from "../theme";

export function Sites({ api, texts, colors }: { api: CentralApi; texts: Texts; colors: Colors }) {
  const [devices, setDevices] = useState<Device[]>([]);
  const [cameras, setCameras] = useState<Camera[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    Promise.all([api.devices(), api.cameras()])
      .then(([d, c]) => { setDevices(d.items); setCameras(c.items); })
      .catch((failure) => setError(String((failure as Error).message)));
  }, [api]);
  const bySite = new Map<string, Device[]>();
  for (const device of devices) bySite.set(device.site ?? "—", [...(bySite.get(device.site ?? "—") ?? []), device]);
  return (
    <ScrollView contentContainerStyle={{ padding: 8 }}>
      {error && <Text style={[styles.body, { color: colors.danger }]}>{error}</Text>}
      {[...bySite.entries()].map(([site, list]) => (
        <Card key={site} colors={colors} testID={`site-${site}`}>
          <Text style={[styles.title, { color: colors.text }]}>{texts.site}: {site}</Text>
          {list.map((device) => (
            <Text key={device.device_id} style={[styles.body, { color: colors.text, marginTop: 6 }]}>
              {device.device_id} · {device.revoked_at ? "revoked" : device.last_seen_at ? `${texts.lastSeen} ${new Date(device.last_seen_at).toLocaleString()}` : "—"}
              {cameras.filter((c) => c.device_id === device.device_id).map((c) =>
                `\n   ${c.camera}: ${c.state === "online" ? texts.online : c.state}`).join("")}
            </Text>
          ))}
        </Card>
      ))}
    </ScrollView>
  );
}
