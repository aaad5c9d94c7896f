// `loiter`: an object stays in a zone longer than `seconds`.
import { firstZone, NumberInput, ShapeSelect, zoneNames } from "./fields";
import type { FormProps, RuleKind } from "./kind";

function LoiterForm({ rule, draft, onChange }: FormProps) {
  return (
    <>
      <ShapeSelect value={rule.zone} names={zoneNames(draft)} onChange={(zone) => onChange({ zone })} />
      <NumberInput label="rules.seconds" value={rule.seconds} min={0} step="any" onChange={(seconds) => onChange({ seconds })} />
    </>
  );
}

export const loiter: RuleKind = {
  Form: LoiterForm,
  blank: { zone: null, seconds: null },
  adopt: (rule, draft) => ({ zone: rule.zone ?? firstZone(draft), seconds: rule.seconds }),
};
