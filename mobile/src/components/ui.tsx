// Shared pieces: a large touch target button, a card, a header with a back button.
import { Pressable, StyleSheet, Text, View, type ViewStyle } from "react-native";

import { TOUCH, type Colors } from "../theme";

export function Button({ title, onPress, colors, kind = "accent", testID, disabled }: {
  title: string; onPress: () => void; colors: Colors; kind?: "accent" | "danger" | "plain"; testID?: string; disabled?: boolean;
}) {
  const background = kind === "plain" ? "transparent" : kind === "danger" ? colors.danger : colors.accent;
  return (
    <Pressable accessibilityRole="button" testID={testID} onPress={onPress} disabled={disabled}
      style={[styles.button, { backgroundColor: background, borderColor: colors.border, opacity: disabled ? 0.5 : 1 }]}>
      <Text style={[styles.buttonText, { color: kind === "plain" ? colors.accent : "#fff" }]}>{title}</Text>
    </Pressable>
  );
}

export function Card({ children, colors, style, onPress, testID }: {
  children: React.ReactNode; colors: Colors; style?: ViewStyle; onPress?: () => void; testID?: string;
}) {
  const content = <View style={[styles.card, { backgroundColor: colors.card, borderColor: colors.border }, style]}>{children}</View>;
  return onPress ? <Pressable accessibilityRole="button" testID={testID} onPress={onPress}>{content}</Pressable>
    : <View testID={testID}>{content}</View>;
}

export const styles = StyleSheet.create({
  button: { minHeight: TOUCH, minWidth: TOUCH, paddingHorizontal: 16, borderRadius: 10, borderWidth: 1,
            alignItems: "center", justifyContent: "center", marginVertical: 4 },
  buttonText: { fontSize: 17, fontWeight: "600" },
  card: { borderRadius: 12, borderWidth: 1, padding: 14, marginVertical: 6, minHeight: TOUCH },
  title: { fontSize: 20, fontWeight: "700" },
  body: { fontSize: 16 },
  small: { fontSize: 14 },
  input: { minHeight: TOUCH, borderWidth: 1, borderRadius: 10, paddingHorizontal: 12, fontSize: 16, marginVertical: 4 },
  row: { flexDirection: "row", alignItems: "center", gap: 8, flexWrap: "wrap" },
});
