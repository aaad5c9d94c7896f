// `count`: more than `count` objects in a zone at once.
import { firstZone, NumberInput, ShapeSelect, zoneNames } from "./fields";
import type { FormProps, RuleKind } from "./kind";

function CountForm({ rule, draft, onChange }: FormProps) {
  return (
    <>
      <ShapeSelect value={rule.zone} names={zoneNames(draft)} onChange={(zone) => onChange({ zone })} />
      <NumberInput label="rules.count" value={rule.count} min={1} step={1} onChange={(count) => onChange({ count })} />
    </>
  );
}

export const count: RuleKind = {
  Form: CountForm,
  blank: { zone: null, count: null },
  adopt: (rule, draft) => ({ zone: rule.zone ?? firstZone(draft), count: rule.count }),
};
