// One alert: what and since when, acknowledge, comments. Offline, the action is queued.
import { useCallback, useEffect, useState } from "react";
import { ScrollView, Text, TextInput } from "react-native";

import { CentralApi } from "../api/client";
import type { AlertDetail } from "../api/types";
import { Button, Card, styles } from "../components/ui";
import type { Texts } from "../i18n";
import { perform } from "../offline";
import type { Colors } from "../theme";

export function AlertScreen({ api, id, texts, colors }: { api: CentralApi; id: number; texts: Texts; colors: Colors }) {
  const [alert, setAlert] = useState<AlertDetail | null>(null);
  const [draft, setDraft] = useState("");
  const [note, setNote] = useState<string | null>(null);
  const load = useCallback(async () => {
    try { setAlert(await api.alert(id)); } catch (error) { setNote(String((error as Error).message)); }
  }, [api, id]);
  useEffect(() => { void load(); }, [load]);

  const act = async (action: Parameters<typeof perform>[1]) => {
    try {
      const sent = await perform(api, action);
      setNote(sent ? null : texts.queued(1));
      if (sent) await load();
    } catch (error) {
      setNote(String((error as Error).message));
    }
  };

  if (!alert) return <Text style={[styles.body, { color: colors.muted, padding: 12 }]}>{note ?? "…"}</Text>;
  return (
    <ScrollView contentContainerStyle={{ padding: 12 }}>
      <Text style={[styles.title, { color: colors.text }]}>{texts.alertKinds[alert.kind]}: {alert.subject}</Text>
      <Text style={[styles.body, { color: colors.muted }]}>{alert.summary}</Text>
      <Text style={[styles.small, { color: colors.muted }]}>{new Date(alert.opened_at * 1000).toLocaleString()} · {texts.level} {alert.level}</Text>
      {alert.acked_at ? (
        <Text testID="acked" style={[styles.body, { color: colors.ok, marginVertical: 8 }]}>{texts.acknowledged}: {alert.acked_by}</Text>
      ) : (
        <Button testID="acknowledge" title={texts.acknowledge} colors={colors} kind="danger"
          onPress={() => act({ kind: "ack", alertId: alert.id })} />
      )}
      {note && <Text testID="note" style={[styles.small, { color: colors.muted }]}>{note}</Text>}
      {alert.comments.map((c) => (
        <Card key={c.id} colors={colors}><Text style={[styles.body, { color: colors.text }]}>{c.username}: {c.body}</Text></Card>
      ))}
      <TextInput testID="comment-input" value={draft} onChangeText={setDraft} placeholder={texts.comment} multiline
        placeholderTextColor={colors.muted} style={[styles.input, { color: colors.text, borderColor: colors.border }]} />
      <Button testID="comment-send" title={texts.send} colors={colors} disabled={!draft.trim()}
        onPress={() => { void act({ kind: "comment", alertId: alert.id, body: draft.trim() }); setDraft(""); }} />
    </ScrollView>
  );
}
