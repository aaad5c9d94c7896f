// `cross`: an object crosses a line, in a direction.
import type { Direction } from "../../../api/types";
import { t } from "../../../i18n";
import { Field, ShapeSelect } from "./fields";
import type { FormProps, RuleKind } from "./kind";

const DIRECTIONS: Direction[] = ["any", "left_to_right", "right_to_left"];

function CrossForm({ rule, draft, onChange }: FormProps) {
  return (
    <>
      <ShapeSelect value={rule.line} names={draft.lines.map((line) => line.name)} onChange={(line) => onChange({ line })} />
      <Field label="rules.direction">
        <select value={rule.direction ?? "any"} onChange={(event) => onChange({ direction: event.target.value as Direction })}>
          {DIRECTIONS.map((direction) => (
            <option key={direction} value={direction}>
              {t(`direction.${direction}`)}
            </option>
          ))}
        </select>
      </Field>
    </>
  );
}

export const cross: RuleKind = {
  Form: CrossForm,
  blank: { line: null, direction: "any" },
  adopt: (rule, draft) => ({ line: rule.line ?? draft.lines[0]?.name ?? null, direction: rule.direction }),
};
