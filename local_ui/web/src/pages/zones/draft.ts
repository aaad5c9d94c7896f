// Edits of a camera's layout (zones, lines, rules, privacy masks) as pure functions; rules follow renamed shapes.
import type { Layout, Line, Point, PrivacyMask, Rule, Zone } from "../../api/types";
import { newRule } from "./rules";

export type Draft = Pick<Layout, "zones" | "lines" | "rules" | "privacy_masks">;

/** A zone, a line or a privacy mask, by its position in the draft. */
export interface ShapeRef {
  kind: "zone" | "line" | "mask";
  index: number;
}

export function draftOf(layout: Layout): Draft {
  return { zones: layout.zones, lines: layout.lines, rules: layout.rules, privacy_masks: layout.privacy_masks ?? [] };
}

/** `prefix-1`, `prefix-2`, ...: the first not in `taken`. */
function freshName(prefix: string, taken: string[]): string {
  for (let n = 1; ; n++) if (!taken.includes(`${prefix}-${n}`)) return `${prefix}-${n}`;
}

export function addZone(draft: Draft, polygon: Point[]): Draft {
  const zone: Zone = { name: freshName("zone", draft.zones.map((z) => z.name)), polygon, classes: null };
  return { ...draft, zones: [...draft.zones, zone] };
}

export function addMask(draft: Draft, polygon: Point[]): Draft {
  const mask: PrivacyMask = { name: freshName("mask", draft.privacy_masks.map((m) => m.name)), polygon };
  return { ...draft, privacy_masks: [...draft.privacy_masks, mask] };
}

export function addLine(draft: Draft, points: [Point, Point]): Draft {
  const line: Line = { name: freshName("line", draft.lines.map((l) => l.name)), points };
  return { ...draft, lines: [...draft.lines, line] };
}

export function moveVertex(draft: Draft, shape: ShapeRef, vertex: number, to: Point): Draft {
  if (shape.kind === "mask") {
    return {
      ...draft,
      privacy_masks: replace(draft.privacy_masks, shape.index, (mask) => ({
        ...mask,
        polygon: replace(mask.polygon, vertex, () => to),
      })),
    };
  }
  if (shape.kind === "zone") {
    return {
      ...draft,
      zones: replace(draft.zones, shape.index, (zone) => ({ ...zone, polygon: replace(zone.polygon, vertex, () => to) })),
    };
  }
  return {
    ...draft,
    lines: replace(draft.lines, shape.index, (line) => ({
      ...line,
      points: vertex === 0 ? [to, line.points[1]] : [line.points[0], to],
    })),
  };
}

export function renameShape(draft: Draft, shape: ShapeRef, name: string): Draft {
  if (shape.kind === "mask") {
    return { ...draft, privacy_masks: replace(draft.privacy_masks, shape.index, (mask) => ({ ...mask, name })) };
  }
  if (shape.kind === "zone") {
    const old = draft.zones[shape.index]?.name;
    return {
      ...draft,
      zones: replace(draft.zones, shape.index, (zone) => ({ ...zone, name })),
      lines: draft.lines,
      rules: draft.rules.map((rule) => (rule.zone === old ? { ...rule, zone: name } : rule)),
    };
  }
  const old = draft.lines[shape.index]?.name;
  return {
    ...draft,
    lines: replace(draft.lines, shape.index, (line) => ({ ...line, name })),
    rules: draft.rules.map((rule) => (rule.line === old ? { ...rule, line: name } : rule)),
  };
}

export function setZoneClasses(draft: Draft, index: number, classes: string[] | null): Draft {
  return { ...draft, zones: replace(draft.zones, index, (zone) => ({ ...zone, classes })) };
}

/** Removes the shape; rules that used it are left for the user to fix (the server names them). */
export function removeShape(draft: Draft, shape: ShapeRef): Draft {
  if (shape.kind === "mask") return { ...draft, privacy_masks: draft.privacy_masks.filter((_, at) => at !== shape.index) };
  return shape.kind === "zone"
    ? { ...draft, zones: draft.zones.filter((_, at) => at !== shape.index) }
    : { ...draft, lines: draft.lines.filter((_, at) => at !== shape.index) };
}

export function addRule(draft: Draft): Draft {
  return { ...draft, rules: [...draft.rules, newRule(freshName("rule", draft.rules.map((r) => r.name)), draft)] };
}

export function setRule(draft: Draft, index: number, rule: Rule): Draft {
  return { ...draft, rules: replace(draft.rules, index, () => rule) };
}

export function removeRule(draft: Draft, index: number): Draft {
  return { ...draft, rules: draft.rules.filter((_, at) => at !== index) };
}

/** "person, car" → ["person", "car"]; empty → null (all the detector's classes). */
export function parseClasses(text: string): string[] | null {
  const classes = text
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  return classes.length ? classes : null;
}

function replace<T>(items: T[], index: number, change: (item: T) => T): T[] {
  return items.map((item, at) => (at === index ? change(item) : item));
}
