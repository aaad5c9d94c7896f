// Inputs the rule kinds' forms share: a zone or line by name, a number.
import type { ReactNode } from "react";
import { t, type MessageKey } from "../../../i18n";

/** A labelled input inside a rule's row. */
export function Field({ label, children }: { label: MessageKey; children: ReactNode }) {
  return (
    <label className="rule-field">
      <span>{t(label)}</span>
      {children}
    </label>
  );
}

interface ShapeSelectProps {
  value: string | null;
  names: string[];
  /** What no choice means: "—" unless the kind has a meaning for it. */
  none?: string;
  onChange(name: string | null): void;
}

/** One of the draft's zones or lines; a name that is gone stays listed until the user picks another. */
export function ShapeSelect({ value, names, none = "—", onChange }: ShapeSelectProps) {
  const current = value ?? "";
  return (
    <Field label="rules.target">
      <select value={current} onChange={(event) => onChange(event.target.value || null)}>
        <option value="">{none}</option>
        {(names.includes(current) || !current ? names : [current, ...names]).map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
    </Field>
  );
}

interface NumberInputProps {
  label: MessageKey;
  value: number | null;
  min: number;
  step: number | "any";
  onChange(value: number | null): void;
}

/** A number; empty is null. */
export function NumberInput({ label, value, min, step, onChange }: NumberInputProps) {
  return (
    <Field label={label}>
      <input
        type="number"
        min={min}
        step={step}
        value={value ?? ""}
        onChange={(event) => onChange(event.target.value === "" ? null : Number(event.target.value))}
      />
    </Field>
  );
}

export const zoneNames = (draft: { zones: { name: string }[] }) => draft.zones.map((zone) => zone.name);
export const firstZone = (draft: { zones: { name: string }[] }) => draft.zones[0]?.name ?? null;
