// One event: what, where, central's verdict, and its clip (a presigned link, streamed).
import { useEffect, useState } from "react";
import { Image, ScrollView, Text } from "react-native";

import { ApiError, CentralApi } from "../api/client";
import type { Clip, Event, EventDetail } from "../api/types";
import { ClipPlayer } from "../components/ClipPlayer";
import { styles } from "../components/ui";
import type { Texts } from "../i18n";
import type { Colors } from "../theme";

export function EventScreen({ api, event, texts, colors }: { api: CentralApi; event: Event; texts: Texts; colors: Colors }) {
  const [detail, setDetail] = useState<EventDetail | null>(null);
  const [clip, setClip] = useState<Clip | null | "none">(null);
  const [thumbnail, setThumbnail] = useState<string | null>(null);
  useEffect(() => {
    void api.thumbnail(event.device_id, event.event_id).then((link) => setThumbnail(link.url)).catch(() => setThumbnail(null));
    void api.event(event.device_id, event.event_id).then(setDetail).catch(() => setDetail(null));
    void api.clip(event.device_id, event.event_id).then(setClip).catch((error) => {
      if (error instanceof ApiError) setClip("none");
    });
  }, [api, event]);
  const shown = detail ?? event;
  const verdict = detail?.verdicts?.[0];
  return (
    <ScrollView contentContainerStyle={{ padding: 12 }}>
      <Text style={[styles.title, { color: colors.text }]}>{shown.label} · {shown.camera}</Text>
      <Text style={[styles.body, { color: colors.muted }]}>{shown.site ?? shown.device_id} · {shown.rule} · {shown.zone ?? ""}</Text>
      <Text style={[styles.small, { color: colors.muted }]}>{new Date(shown.started_at).toLocaleString()}</Text>
      {thumbnail && <Image testID="thumbnail" source={{ uri: thumbnail }} accessibilityLabel={shown.label}
        style={{ width: "100%", aspectRatio: 16 / 9, borderRadius: 8, marginTop: 8 }} resizeMode="contain" />}
      <Text testID="verdict" style={[styles.body, { color: colors.text, marginVertical: 8 }]}>
        {texts.verdict}: {verdict ? texts.verdicts[verdict.verdict] ?? verdict.verdict : texts.noVerdict}
      </Text>
      <Text style={[styles.body, { color: colors.text, fontWeight: "600" }]}>{texts.clip}</Text>
      {clip && clip !== "none" ? <ClipPlayer url={clip.url} />
        : clip === "none" ? <Text testID="no-clip" style={[styles.body, { color: colors.muted }]}>{texts.noClip}</Text> : null}
    </ScrollView>
  );
}
