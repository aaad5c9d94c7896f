// The interface language, chosen once from the browser's preferences (pt* → pt-BR, else en), and the
// translation function over an app's own messages.

export type Language = "en" | "pt-BR";

function pickLanguage(preferences: readonly string[]): Language {
  const known = preferences.map((tag) => tag.toLowerCase()).find((tag) => tag.startsWith("pt") || tag.startsWith("en"));
  return known?.startsWith("pt") ? "pt-BR" : "en";
}

export const language: Language = pickLanguage(navigator.languages ?? [navigator.language]);

export type Translate<Key extends string> = (key: Key, values?: Record<string, string | number>) => string;

/** `t(key, values)` over `catalogues[language]`: the message `key`, with each `{name}` replaced by `values[name]`. */
export function translator<Key extends string>(catalogues: Record<Language, Record<Key, string>>): Translate<Key> {
  const messages = catalogues[language];
  return (key, values = {}) =>
    messages[key].replace(/\{(\w+)\}/g, (placeholder, name: string) => String(values[name] ?? placeholder));
}
