// What the rule editor knows of a rule kind: one file per kind (EnterForm.tsx, ...), listed in index.ts.
import type { ComponentType } from "react";
import type { Rule } from "../../../api/types";
import type { Draft } from "../draft";

/** The fields only some kinds use (the layout API carries them all, unused ones null or at their default). */
export type RuleParameters = Omit<Rule, "name" | "type" | "classes" | "alert" | "notify" | "schedule">;

export interface FormProps {
  rule: Rule;
  draft: Draft;
  onChange(change: Partial<RuleParameters>): void;
}

export interface RuleKind {
  /** The kind's own parameters, as inputs for one row of the rules table. */
  Form: ComponentType<FormProps>;
  /** Its parameters cleared (a rule of another kind carries them so). */
  blank: Partial<RuleParameters>;
  /** Its parameters for `rule` becoming this kind: kept where they fit, else defaults from the draft. */
  adopt(rule: Rule, draft: Draft): Partial<RuleParameters>;
}
