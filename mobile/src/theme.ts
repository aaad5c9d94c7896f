// Light and dark colours (the phone's setting), and the touch target size (48 dp at least).
import { useColorScheme } from "react-native";

export const TOUCH = 48;

const light = { background: "#f4f5f7", card: "#ffffff", text: "#111418", muted: "#5b6470", accent: "#0b63ce",
                danger: "#c62828", ok: "#2e7d32", border: "#d7dbe0" };
const dark: typeof light = { background: "#0e1116", card: "#1a1f27", text: "#eef1f5", muted: "#9aa4b2", accent: "#5ea2ff",
                             danger: "#ff6b6b", ok: "#66bb6a", border: "#2c333d" };
export type Colors = typeof light;

export function useColors(): Colors {
  return useColorScheme() === "dark" ? dark : light;
}
