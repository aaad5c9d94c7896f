// `present`: an object seen anywhere; a zone, when chosen, lends its classes and its name.
import { t } from "../../../i18n";
import { ShapeSelect, zoneNames } from "./fields";
import type { FormProps, RuleKind } from "./kind";

function PresentForm({ rule, draft, onChange }: FormProps) {
  return (
    <ShapeSelect
      value={rule.zone}
      names={zoneNames(draft)}
      none={t("rules.wholeFrame")}
      onChange={(zone) => onChange({ zone })}
    />
  );
}

export const present: RuleKind = {
  Form: PresentForm,
  blank: { zone: null },
  adopt: (rule) => ({ zone: rule.zone }),
};
