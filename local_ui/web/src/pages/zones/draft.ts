// Edits of a camera's layout (zones, lines, rules) as pure functions; rules follow renamed shapes.
import type { Layout, Line, Point, Rule, RuleType, Zone } from "../../api/types";

export type Draft = Pick<Layout, "zones" | "lines" | "rules">;

/** A zone or a line, by its position in the draft. */
export interface ShapeRef {
  kind: "zone" | "line";
  index: number;
}

export function draftOf(layout: Layout): Draft {
  return { zones: layout.zones, lines: layout.lines, rules: layout.rules };
}

/** `prefix-1`, `prefix-2`, ...: the first not in `taken`. */
function freshName(prefix: string, taken: string[]): string {
  for (let n = 1; ; n++) if (!taken.includes(`${prefix}-${n}`)) return `${prefix}-${n}`;
}

export function addZone(draft: Draft, polygon: Point[]): Draft {
  const zone: Zone = { name: freshName("zone", draft.zones.map((z) => z.name)), polygon, classes: null };
  return { ...draft, zones: [...draft.zones, zone] };
}

export function addLine(draft: Draft, points: [Point, Point]): Draft {
  const line: Line = { name: freshName("line", draft.lines.map((l) => l.name)), points };
  return { ...draft, lines: [...draft.lines, line] };
}

export function moveVertex(draft: Draft, shape: ShapeRef, vertex: number, to: Point): Draft {
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
  if (shape.kind === "zone") {
    const old = draft.zones[shape.index]?.name;
    return {
      zones: replace(draft.zones, shape.index, (zone) => ({ ...zone, name })),
      lines: draft.lines,
      rules: draft.rules.map((rule) => (rule.zone === old ? { ...rule, zone: name } : rule)),
    };
  }
  const old = draft.lines[shape.index]?.name;
  return {
    zones: draft.zones,
    lines: replace(draft.lines, shape.index, (line) => ({ ...line, name })),
    rules: draft.rules.map((rule) => (rule.line === old ? { ...rule, line: name } : rule)),
  };
}

export function setZoneClasses(draft: Draft, index: number, classes: string[] | null): Draft {
  return { ...draft, zones: replace(draft.zones, index, (zone) => ({ ...zone, classes })) };
}

/** Removes the shape; rules that used it are left for the user to fix (the server names them). */
export function removeShape(draft: Draft, shape: ShapeRef): Draft {
  return shape.kind === "zone"
    ? { ...draft, zones: draft.zones.filter((_, at) => at !== shape.index) }
    : { ...draft, lines: draft.lines.filter((_, at) => at !== shape.index) };
}

export function addRule(draft: Draft): Draft {
  const rule: Rule = {
    name: freshName("rule", draft.rules.map((r) => r.name)),
    type: "enter",
    zone: draft.zones[0]?.name ?? null,
    line: null,
    direction: "any",
    seconds: null,
    count: null,
    classes: null,
    alert: false,
    upload_clip: false,
  };
  return { ...draft, rules: [...draft.rules, rule] };
}

export function setRule(draft: Draft, index: number, rule: Rule): Draft {
  return { ...draft, rules: replace(draft.rules, index, () => rule) };
}

export function removeRule(draft: Draft, index: number): Draft {
  return { ...draft, rules: draft.rules.filter((_, at) => at !== index) };
}

/** The rule as another type: keeps what the new type uses, clears the rest. */
export function withType(rule: Rule, type: RuleType, draft: Draft): Rule {
  const crosses = type === "cross";
  return {
    ...rule,
    type,
    zone: crosses ? null : (rule.zone ?? (type === "present" ? null : (draft.zones[0]?.name ?? null))),
    line: crosses ? (rule.line ?? draft.lines[0]?.name ?? null) : null,
    direction: crosses ? rule.direction : "any",
    seconds: type === "loiter" ? rule.seconds : null,
    count: type === "count" ? rule.count : null,
  };
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
