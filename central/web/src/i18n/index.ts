// The interface language, chosen once from the browser's preferences: pt* → pt-BR, else en.
import { en } from "./en";
import { ptBR } from "./pt-BR";

export type MessageKey = keyof typeof en;
export type Language = "en" | "pt-BR";

function pickLanguage(preferences: readonly string[]): Language {
  const known = preferences.map((tag) => tag.toLowerCase()).find((tag) => tag.startsWith("pt") || tag.startsWith("en"));
  return known?.startsWith("pt") ? "pt-BR" : "en";
}

export const language: Language = pickLanguage(navigator.languages ?? [navigator.language]);
const messages: Record<MessageKey, string> = language === "pt-BR" ? ptBR : en;

/** The message `key`, with each `{name}` replaced by `values[name]`. */
export function t(key: MessageKey, values: Record<string, string | number> = {}): string {
  return messages[key].replace(/\{(\w+)\}/g, (placeholder, name: string) => String(values[name] ?? placeholder));
}
