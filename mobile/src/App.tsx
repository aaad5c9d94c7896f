// The app: sign-in, then the feed, sites, an alert, an event; logout. Navigation is a small state machine (four
// screens do not need a router).
import * as AuthSession from "expo-auth-session";
import { StatusBar } from "expo-status-bar";
import * as WebBrowser from "expo-web-browser";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Platform, SafeAreaView, Text, TextInput, View } from "react-native";

import { CentralApi } from "./api/client";
import type { Event } from "./api/types";
import * as auth from "./auth";
import { Button, styles } from "./components/ui";
import { phoneTexts } from "./i18n";
import { clearAll, flush } from "./offline";
import { onNotificationResponse, registerForPush } from "./push";
import { AlertScreen } from "./screens/AlertScreen";
import { EventScreen } from "./screens/EventScreen";
import { Feed } from "./screens/Feed";
import { Sites } from "./screens/Sites";
import { useColors } from "./theme";

WebBrowser.maybeCompleteAuthSession();

type Screen = { name: "feed" | "sites" } | { name: "alert"; id: number } | { name: "event"; event: Event };

function defaultCentral(): string {
  if (Platform.OS === "web" && globalThis.location) return globalThis.location.origin;
  return process.env.EXPO_PUBLIC_CENTRAL_URL ?? "";
}

export default function App() {
  const texts = useMemo(phoneTexts, []);
  const colors = useColors();
  const [signin, setSignin] = useState<auth.Stored | null | undefined>(undefined);
  const [central, setCentral] = useState(defaultCentral());
  const [screen, setScreen] = useState<Screen>({ name: "feed" });
  const [message, setMessage] = useState<string | null>(null);
  const current = useRef<auth.Stored | null>(null);
  current.current = signin ?? null;

  useEffect(() => { void auth.load().then(setSignin); }, []);

  const [request, response, prompt] = AuthSession.useAuthRequest(
    { clientId: auth.CLIENT_ID, redirectUri: auth.redirectUri(), scopes: auth.SCOPES, usePKCE: true },
    central ? auth.discovery(central) : null);

  useEffect(() => {
    if (response?.type !== "success" || !request?.codeVerifier) {
      if (response?.type === "error") setMessage(response.error?.message ?? "sign-in failed");
      return;
    }
    void auth.exchange(central, response.params.code, request.codeVerifier).then(async (stored) => {
      await auth.save(stored);
      setSignin(stored);
    }).catch((error) => setMessage(String(error)));
  }, [response, request, central]);

  const endSignin = useCallback(async (why: string | null) => {
    await auth.save(null);
    await clearAll();
    setSignin(null);
    setMessage(why);
  }, []);

  const api = useMemo(() => signin ? new CentralApi(signin.central, {
    token: async () => current.current?.access ?? null,
    renew: async () => {
      const renewed = current.current ? await auth.refresh(current.current) : null;
      if (!renewed) { await endSignin(texts.signedOut); return null; }
      await auth.save(renewed);
      current.current = renewed;
      setSignin(renewed);
      return renewed.access;
    },
  }) : null, [signin?.central, endSignin, texts]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    if (!api) return;
    void flush(api).catch(() => undefined);
    void registerForPush(api, texts.acknowledge).catch(() => undefined);
    return onNotificationResponse((id) => setScreen({ name: "alert", id }));
  }, [api, texts]);

  const logout = async () => {
    if (signin) await auth.signOut(signin).catch(() => undefined);
    await endSignin(null);
  };

  if (signin === undefined) return <SafeAreaView style={{ flex: 1, backgroundColor: colors.background }} />;
  if (!signin || !api) {
    return (
      <SafeAreaView style={{ flex: 1, backgroundColor: colors.background, padding: 20, justifyContent: "center" }}>
        <StatusBar style="auto" />
        <Text style={[styles.title, { color: colors.text, marginBottom: 12 }]}>Vigia</Text>
        {message && <Text testID="signin-message" style={[styles.body, { color: colors.danger }]}>{message}</Text>}
        <TextInput testID="central-url" value={central} onChangeText={setCentral} placeholder={texts.central}
          autoCapitalize="none" keyboardType="url" placeholderTextColor={colors.muted}
          style={[styles.input, { color: colors.text, borderColor: colors.border }]} />
        <Button testID="sign-in" title={texts.signIn} colors={colors} disabled={!request || !central}
          onPress={() => { setMessage(null); void prompt(); }} />
      </SafeAreaView>
    );
  }

  const tab = (name: "feed" | "sites", title: string) => (
    <Button testID={`tab-${name}`} title={title} colors={colors} kind={screen.name === name ? "accent" : "plain"}
      onPress={() => setScreen({ name })} />
  );
  return (
    <SafeAreaView style={{ flex: 1, backgroundColor: colors.background }}>
      <StatusBar style="auto" />
      <View style={[styles.row, { padding: 8, justifyContent: "space-between" }]}>
        {screen.name === "alert" || screen.name === "event"
          ? <Button testID="back" title={`‹ ${texts.back}`} colors={colors} kind="plain" onPress={() => setScreen({ name: "feed" })} />
          : <View style={styles.row}>{tab("feed", texts.alerts)}{tab("sites", texts.sites)}</View>}
        <Button testID="sign-out" title={texts.signOut} colors={colors} kind="plain" onPress={() => void logout()} />
      </View>
      {screen.name === "feed" && <Feed api={api} texts={texts} colors={colors}
        onAlert={(id) => setScreen({ name: "alert", id })} onEvent={(event) => setScreen({ name: "event", event })} />}
      {screen.name === "sites" && <Sites api={api} texts={texts} colors={colors} />}
      {screen.name === "alert" && <AlertScreen api={api} id={screen.id} texts={texts} colors={colors} />}
      {screen.name === "event" && <EventScreen api={api} event={screen.event} texts={texts} colors={colors} />}
    </SafeAreaView>
  );
}
