// The rule kinds the editor offers, in this order: one entry per kind (its file holds its form).
import type { Rule, RuleType } from "../../../api/types";
import type { Draft } from "../draft";
import { count } from "./CountForm";
import { cross } from "./CrossForm";
import { enter } from "./EnterForm";
import type { RuleKind, RuleParameters } from "./kind";
import { loiter } from "./LoiterForm";
import { present } from "./PresentForm";

export const RULE_KINDS: Record<RuleType, RuleKind> = { enter, loiter, cross, count, present };

export const RULE_TYPES = Object.keys(RULE_KINDS) as RuleType[];

/** Every kind's parameters cleared. */
const BLANK = Object.assign({}, ...Object.values(RULE_KINDS).map((kind) => kind.blank)) as RuleParameters;

/** The rule as another type: keeps what the new type uses, clears the rest. */
export function withType(rule: Rule, type: RuleType, draft: Draft): Rule {
  return { ...rule, ...BLANK, type, ...RULE_KINDS[type].adopt(rule, draft) };
}

/** A new rule of the first kind, named `name`. */
export function newRule(name: string, draft: Draft): Rule {
  const type = RULE_TYPES[0] ?? "enter";
  return withType({ name, type, classes: null, alert: false, notify: [], schedule: null, ...BLANK }, type, draft);
}
