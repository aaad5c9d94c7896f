// The feed: open alerts first, then events, with filters (site, camera, object, verdict). Offline, the last feed
// saved on the phone is shown with a banner.
import { useCallback, useEffect, useState } from "react";
import { FlatList, RefreshControl, Text, TextInput, View } from "react-native";

import { CentralApi, OfflineError } from "../api/client";
import type { Alert, Event, EventFilters } from "../api/types";
import { Button, Card, styles } from "../components/ui";
import type { Texts } from "../i18n";
import { lastFeed, queued, saveFeed } from "../offline";
import type { Colors } from "../theme";

type Item = { type: "alert"; alert: Alert } | { type: "event"; event: Event };
const VERDICTS = ["confirmed", "not_confirmed", "label_differs"] as const;

export function Feed({ api, texts, colors, onAlert, onEvent }: {
  api: CentralApi; texts: Texts; colors: Colors; onAlert: (id: number) => void; onEvent: (e: Event) => void;
}) {
  const [alerts, setAlerts] = useState<Alert[]>([]);
  const [events, setEvents] = useState<Event[]>([]);
  const [offline, setOffline] = useState(false);
  const [pending, setPending] = useState(0);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [filters, setFilters] = useState<EventFilters>({});

  const load = useCallback(async () => {
    setLoading(true);
    setPending((await queued()).length);
    try {
      const [open, page] = await Promise.all([api.alerts("open"), api.events({ ...filters, limit: 50 })]);
      setAlerts(open.items);
      setEvents(page.items);
      setOffline(false);
      setError(null);
      await saveFeed({ alerts: open.items, events: page.items, savedAt: Date.now() });
    } catch (failure) {
      if (failure instanceof OfflineError) {
        const saved = await lastFeed();
        if (saved) { setAlerts(saved.alerts); setEvents(saved.events); }
        setOffline(true);
      } else setError(String((failure as Error).message));
    } finally {
      setLoading(false);
    }
  }, [api, filters]);

  useEffect(() => { void load(); }, [load]);

  const items: Item[] = [...alerts.map((alert) => ({ type: "alert" as const, alert })),
                         ...events.map((event) => ({ type: "event" as const, event }))];
  const setFilter = (name: keyof EventFilters, value: string | undefined) =>
    setFilters((current) => ({ ...current, [name]: value || undefined }));

  return (
    <View style={{ flex: 1 }}>
      {offline && <Text testID="offline" style={[styles.body, { color: colors.danger, padding: 8 }]}>{texts.offline}</Text>}
      {pending > 0 && <Text testID="queued" style={[styles.small, { color: colors.muted, paddingHorizontal: 8 }]}>{texts.queued(pending)}</Text>}
      {error && <Text testID="error" style={[styles.body, { color: colors.danger, padding: 8 }]}>{error}</Text>}
      <View style={[styles.row, { paddingHorizontal: 8 }]}>
        {(["site", "camera", "label"] as const).map((name) => (
          <TextInput key={name} testID={`filter-${name}`} placeholder={texts[name]} placeholderTextColor={colors.muted}
            autoCapitalize="none" onSubmitEditing={(e) => setFilter(name, e.nativeEvent.text.trim())}
            onEndEditing={(e) => setFilter(name, e.nativeEvent.text.trim())}
            style={[styles.input, { flex: 1, minWidth: 100, color: colors.text, borderColor: colors.border }]} />
        ))}
      </View>
      <View style={[styles.row, { paddingHorizontal: 8 }]}>
        {[undefined, ...VERDICTS].map((verdict) => (
          <Button key={verdict ?? "any"} testID={`verdict-${verdict ?? "any"}`} colors={colors}
            kind={filters.verdict === verdict ? "accent" : "plain"}
            title={verdict ? texts.verdicts[verdict] : `${texts.verdict}: ${texts.any}`}
            onPress={() => setFilter("verdict", verdict)} />
        ))}
      </View>
      <FlatList data={items} keyExtractor={(item) => item.type === "alert" ? `a${item.alert.id}` : `e${item.event.device_id}/${item.event.event_id}`}
        refreshControl={<RefreshControl refreshing={loading} onRefresh={load} />}
        contentContainerStyle={{ padding: 8 }}
        ListEmptyComponent={loading ? null : <Text style={[styles.body, { color: colors.muted }]}>{texts.noEvents}</Text>}
        renderItem={({ item }) => item.type === "alert" ? (
          <Card colors={colors} testID={`alert-${item.alert.id}`} onPress={() => onAlert(item.alert.id)}
            style={{ borderLeftWidth: 6, borderLeftColor: item.alert.acked_at ? colors.ok : colors.danger }}>
            <Text style={[styles.title, { color: colors.text }]}>{texts.alertKinds[item.alert.kind]}: {item.alert.subject}</Text>
            <Text style={[styles.body, { color: colors.muted }]}>{item.alert.summary} · {texts.level} {item.alert.level}</Text>
            {item.alert.acked_by && <Text style={[styles.small, { color: colors.ok }]}>{texts.acknowledged}: {item.alert.acked_by}</Text>}
          </Card>
        ) : (
          <Card colors={colors} testID={`event-${item.event.event_id}`} onPress={() => onEvent(item.event)}
            style={item.event.alert ? { borderLeftWidth: 6, borderLeftColor: colors.danger } : undefined}>
            <Text style={[styles.body, { color: colors.text, fontWeight: "600" }]}>
              {item.event.label} · {item.event.camera} · {item.event.site ?? item.event.device_id}
            </Text>
            <Text style={[styles.small, { color: colors.muted }]}>{new Date(item.event.started_at).toLocaleString()} · {item.event.rule}</Text>
          </Card>
        )} />
    </View>
  );
}
