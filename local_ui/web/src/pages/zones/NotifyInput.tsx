import { useState } from "react";
import { t } from "../../i18n";

interface Props {
  value: string[];
  onChange(notify: string[]): void;
}

const parse = (text: string) =>
  text
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);

/** Where a rule's events are sent (mqtt, email, push, webhook:NAME), comma separated; empty: only the guards' screens. */
export function NotifyInput({ value, onChange }: Props) {
  const [text, setText] = useState(() => value.join(", "));
  // Follow changes made elsewhere (another row moving into this one), not the user's own typing.
  if (JSON.stringify(parse(text)) !== JSON.stringify(value)) setText(value.join(", "));
  return (
    <input
      aria-label={t("rules.notify")}
      title={t("rules.notifyHelp")}
      placeholder={t("rules.notifyNone")}
      value={text}
      onChange={(event) => {
        setText(event.target.value);
        onChange(parse(event.target.value));
      }}
    />
  );
}
