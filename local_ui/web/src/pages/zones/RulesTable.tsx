import type { Rule, RuleType } from "../../api/types";
import { t } from "../../i18n";
import { ClassesInput } from "./ClassesInput";
import type { Draft } from "./draft";
import { NotifyInput } from "./NotifyInput";
import { RULE_KINDS, RULE_TYPES, withType } from "./rules";

interface Props {
  draft: Draft;
  onChange(index: number, rule: Rule): void;
  onAdd(): void;
  onRemove(index: number): void;
}

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
              <th>{t("rules.settings")}</th>
              <th>{t("rules.classes")}</th>
              <th>{t("rules.alert")}</th>
              <th>{t("rules.notify")}</th>
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

/** The fields every rule has, around the form of its kind. */
function RuleRow({ rule, draft, onChange, onRemove }: RowProps) {
  const set = (change: Partial<Rule>) => onChange({ ...rule, ...change });
  const { Form } = RULE_KINDS[rule.type];
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
          {RULE_TYPES.map((type) => (
            <option key={type} value={type}>
              {t(`ruleType.${type}`)}
            </option>
          ))}
        </select>
      </td>
      <td>
        <div className="rule-settings">
          <Form rule={rule} draft={draft} onChange={set} />
        </div>
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
        <NotifyInput value={rule.notify} onChange={(notify) => set({ notify })} />
      </td>
      <td>
        <button type="button" className="button button--danger" onClick={onRemove}>
          {t("common.delete")}
        </button>
      </td>
    </tr>
  );
}
