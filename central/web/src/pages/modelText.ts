// How a model's state and the evaluation gate's numbers read (the registry keeps the metrics as training wrote them:
// metrics.gate {passed, reasons}, metrics.base / metrics.candidate {heldout, regression}).
import type { Model } from "../api";
import { formatNumber } from "../format";
import { t } from "../i18n";

export interface Measured {
  map50: number;
  recall: number;
  recall_per_class: Record<string, number>;
  images: number;
  objects: number;
}

export function modelState(state: Model["state"]): string {
  return t(`models.state.${state}`);
}

/** The measure `which` (base or candidate) on `split` (heldout or regression), when training recorded it. */
export function measured(model: Model, which: "base" | "candidate", split: "heldout" | "regression"): Measured | null {
  const side = model.metrics[which] as Record<string, Measured> | undefined;
  return side?.[split] ?? null;
}

export function gateOf(model: Model): { passed: boolean | null; reasons: string[] } {
  const gate = model.metrics.gate as { passed?: boolean; reasons?: string[] } | undefined;
  return { passed: typeof gate?.passed === "boolean" ? gate.passed : null, reasons: gate?.reasons ?? [] };
}

export const score = (value: number | undefined) => (value === undefined ? t("common.none") : value.toFixed(3));

/** "passed: mAP@0.5 0.410 → 0.470" for the list. */
export function gateMap(model: Model): string {
  const gate = gateOf(model);
  if (gate.passed === null) return t("models.gate.none");
  const before = measured(model, "base", "heldout");
  const after = measured(model, "candidate", "heldout");
  const verdict = gate.passed ? t("models.gate.passed") : t("models.gate.rejected");
  return before && after ? `${verdict}: mAP@0.5 ${score(before.map50)} → ${score(after.map50)}` : verdict;
}

export const perHour = (value: number | undefined) => (value === undefined ? t("common.none") : formatNumber(value));
