import type { Direction, Rule, RuleType } from "../../api/types";
import { t } from "../../i18n";
import { ClassesInput } from "./ClassesInput";
import { withType, type Draft } from "./draft";

interface Props {
  draft: Draft;
  onChange(index: number, rule: Rule): void;
  onAdd(): void;
  onRemove(index: number): void;
}

const TYPES: RuleType[] = ["enter", "loiter", "cross", "count", "present"];
const DIRECTIONS: Direction[] = ["any", "left_to_right", "right_to_left"];

/** A number input's value: null when empty. */
const numberOrNull = (text: string) => (text === "" ? null : Number(text));

export function RulesTable({ draft, onChange, onAdd, onRemove }: Props) {
  return (
    <section className="rules">
      <h2>{t("rules.title")}</h2>
      <div className="table-scroll">
        <table>
          <thead>
            <tr>
              <th>{t("rules.name")}</th>
              <th>{t("rules.type")}</th>
              <th>{t("rules.target")}</th>
              <th>{t("rules.direction")}</th>
              <th>{t("rules.seconds")}</th>
              <th>{t("rules.count")}</th>
              <th>{t("rules.classes")}</th>
              <th>{t("rules.alert")}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {draft.rules.map((rule, index) => (
              <RuleRow
                key={index}
                rule={rule}
                draft={draft}
                onChange={(changed) => onChange(index, changed)}
                onRemove={() => onRemove(index)}
              />
            ))}
          </tbody>
        </table>
      </div>
      {draft.rules.length === 0 && <p className="muted">{t("rules.none")}</p>}
      <button type="button" className="button" onClick={onAdd}>
        {t("rules.add")}
      </button>
    </section>
  );
}

interface RowProps {
  rule: Rule;
  draft: Draft;
  onChange(rule: Rule): void;
  onRemove(): void;
}

function RuleRow({ rule, draft, onChange, onRemove }: RowProps) {
  const set = (change: Partial<Rule>) => onChange({ ...rule, ...change });
  const crosses = rule.type === "cross";
  const targets = crosses ? draft.lines.map((line) => line.name) : draft.zones.map((zone) => zone.name);
  const target = (crosses ? rule.line : rule.zone) ?? "";
  return (
    <tr>
      <td>
        <input aria-label={t("rules.name")} value={rule.name} onChange={(event) => set({ name: event.target.value })} />
      </td>
      <td>
        <select
          aria-label={t("rules.type")}
          value={rule.type}
          onChange={(event) => onChange(withType(rule, event.target.value as RuleType, draft))}
        >
          {TYPES.map((type) => (
            <option key={type} value={type}>
              {t(`ruleType.${type}`)}
            </option>
          ))}
        </select>
      </td>
      <td>
        <select
          aria-label={t("rules.target")}
          value={target}
          onChange={(event) => set(crosses ? { line: event.target.value || null } : { zone: event.target.value || null })}
        >
          <option value="">{rule.type === "present" ? t("rules.wholeFrame") : "—"}</option>
          {(targets.includes(target) || !target ? targets : [target, ...targets]).map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </td>
      <td>
        <select
          aria-label={t("rules.direction")}
          value={rule.direction}
          disabled={!crosses}
          onChange={(event) => set({ direction: event.target.value as Direction })}
        >
          {DIRECTIONS.map((direction) => (
            <option key={direction} value={direction}>
              {t(`direction.${direction}`)}
            </option>
          ))}
        </select>
      </td>
      <td>
        <input
          aria-label={t("rules.seconds")}
          type="number"
          min={0}
          step="any"
          value={rule.seconds ?? ""}
          disabled={rule.type !== "loiter"}
          onChange={(event) => set({ seconds: numberOrNull(event.target.value) })}
        />
      </td>
      <td>
        <input
          aria-label={t("rules.count")}
          type="number"
          min={1}
          step={1}
          value={rule.count ?? ""}
          disabled={rule.type !== "count"}
          onChange={(event) => set({ count: numberOrNull(event.target.value) })}
        />
      </td>
      <td>
        <ClassesInput value={rule.classes} onChange={(classes) => set({ classes })} />
      </td>
      <td>
        <input
          aria-label={t("rules.alert")}
          type="checkbox"
          checked={rule.alert}
          onChange={(event) => set({ alert: event.target.checked })}
        />
      </td>
      <td>
        <button type="button" className="button button--danger" onClick={onRemove}>
          {t("common.delete")}
        </button>
      </td>
    </tr>
  );
}
