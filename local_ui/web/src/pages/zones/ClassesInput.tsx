import { useState } from "react";
import { t } from "../../i18n";
import { parseClasses } from "./draft";

interface Props {
  value: string[] | null;
  onChange(classes: string[] | null): void;
}

/** Object classes as a comma separated list; empty means all the detector's classes. */
export function ClassesInput({ value, onChange }: Props) {
  const [text, setText] = useState(() => value?.join(", ") ?? "");
  // Follow changes made elsewhere (another row moving into this one), not the user's own typing.
  if (JSON.stringify(parseClasses(text)) !== JSON.stringify(value)) setText(value?.join(", ") ?? "");
  return (
    <input
      aria-label={t("zones.classes")}
      title={t("zones.classes")}
      placeholder={t("zones.allClasses")}
      value={text}
      onChange={(event) => {
        setText(event.target.value);
        onChange(parseClasses(event.target.value));
      }}
    />
  );
}
