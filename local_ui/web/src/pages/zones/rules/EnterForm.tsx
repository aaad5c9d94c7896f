// `enter`: an object is inside a zone.
import { firstZone, ShapeSelect, zoneNames } from "./fields";
import type { FormProps, RuleKind } from "./kind";

function EnterForm({ rule, draft, onChange }: FormProps) {
  return <ShapeSelect value={rule.zone} names={zoneNames(draft)} onChange={(zone) => onChange({ zone })} />;
}

export const enter: RuleKind = {
  Form: EnterForm,
  blank: { zone: null },
  adopt: (rule, draft) => ({ zone: rule.zone ?? firstZone(draft) }),
};
