// Hit tests for the zone editor, in normalised coordinates scaled to the drawing's pixel size.
import type { Point } from "../../api/types";
import type { Draft, ShapeRef } from "./draft";

interface Size {
  width: number;
  height: number;
}

const LINE_REACH_PX = 10;

/** The shape a click at `point` picks: a line within reach, else the smallest zone or privacy mask around it. */
export function shapeAt(draft: Draft, point: Point, size: Size): ShapeRef | null {
  const line = draft.lines.findIndex(
    ({ points: [a, b] }) => distanceToSegment(scale(point, size), scale(a, size), scale(b, size)) <= LINE_REACH_PX,
  );
  if (line >= 0) return { kind: "line", index: line };
  let best: ShapeRef | null = null;
  let bestArea = Infinity;
  draft.zones.forEach((zone, index) => {
    const area = Math.abs(signedArea(zone.polygon));
    if (area < bestArea && contains(zone.polygon, point)) {
      best = { kind: "zone", index };
      bestArea = area;
    }
  });
  draft.privacy_masks.forEach((mask, index) => {
    const area = Math.abs(signedArea(mask.polygon));
    if (area < bestArea && contains(mask.polygon, point)) {
      best = { kind: "mask", index };
      bestArea = area;
    }
  });
  return best;
}

/** Distance in pixels between two normalised points. */
export function pixelDistance(a: Point, b: Point, size: Size): number {
  return Math.hypot((a[0] - b[0]) * size.width, (a[1] - b[1]) * size.height);
}

function scale([x, y]: Point, size: Size): Point {
  return [x * size.width, y * size.height];
}

function contains(polygon: Point[], [x, y]: Point): boolean {
  let inside = false;
  polygon.forEach(([x1, y1], i) => {
    const [x2, y2] = polygon[(i + 1) % polygon.length]!;
    if (y1 > y !== y2 > y && x < ((x2 - x1) * (y - y1)) / (y2 - y1) + x1) inside = !inside;
  });
  return inside;
}

function signedArea(polygon: Point[]): number {
  return polygon.reduce((sum, [x1, y1], i) => {
    const [x2, y2] = polygon[(i + 1) % polygon.length]!;
    return sum + (x1 * y2 - x2 * y1) / 2;
  }, 0);
}

function distanceToSegment([px, py]: Point, [ax, ay]: Point, [bx, by]: Point): number {
  const dx = bx - ax;
  const dy = by - ay;
  const along = dx || dy ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy))) : 0;
  return Math.hypot(px - (ax + along * dx), py - (ay + along * dy));
}
