import { useRef, useState, type PointerEvent } from "react";
import type { Point } from "../../api/types";
import { t } from "../../i18n";
import type { Draft, ShapeRef } from "./draft";
import { pixelDistance, shapeAt } from "./geometry";

/** A shape being drawn: clicked points so far. */
export interface Drawing {
  kind: "zone" | "line" | "mask";
  points: Point[];
}

interface Props {
  imageUrl: string;
  /** The camera's frame size, for the drawing's aspect ratio. */
  width: number;
  height: number;
  draft: Draft;
  selected: ShapeRef | null;
  drawing: Drawing | null;
  /** A click while drawing; `closes`: on the first point of a zone with three or more. */
  onPoint(point: Point, closes: boolean): void;
  onSelect(shape: ShapeRef | null): void;
  onMoveVertex(shape: ShapeRef, vertex: number, to: Point): void;
}

const W = 1000; // drawing units across; the height follows the camera's aspect ratio
const HANDLE = W * 0.01;
const CLOSE_REACH_PX = 16;

/**
 * The camera image with the zones and lines over it. Drawing: each click adds a point. Otherwise a
 * click selects a shape (a line, else the smallest zone under the pointer) and the selected
 * shape's points can be dragged.
 */
export function ZoneCanvas(props: Props) {
  const { imageUrl, draft, selected, drawing } = props;
  const H = (W * props.height) / props.width;
  const [imageMissing, setImageMissing] = useState(false);
  const dragging = useRef<{ shape: ShapeRef; vertex: number } | null>(null);
  const toView = ([x, y]: Point) => [x * W, y * H] as const;
  const pointsAttr = (points: Point[]) => points.map((point) => toView(point).join(",")).join(" ");
  const isSelected = (kind: ShapeRef["kind"], index: number) => selected?.kind === kind && selected.index === index;
  const selectedPoints =
    selected?.kind === "zone"
      ? draft.zones[selected.index]?.polygon
      : selected?.kind === "mask"
        ? draft.privacy_masks[selected.index]?.polygon
        : selected && draft.lines[selected.index]?.points;

  function pointerDown(event: PointerEvent<SVGSVGElement>) {
    if (event.button !== 0) return;
    const size = event.currentTarget.getBoundingClientRect();
    const point = pointAt(event, size);
    if (drawing) {
      const first = drawing.points[0];
      const closes =
        drawing.kind !== "line" && drawing.points.length >= 3 && !!first && pixelDistance(point, first, size) < CLOSE_REACH_PX;
      return props.onPoint(point, closes);
    }
    const handle = (event.target as Element).closest<SVGElement>("[data-vertex]");
    if (selected && handle) {
      dragging.current = { shape: selected, vertex: Number(handle.dataset.vertex) };
      event.currentTarget.setPointerCapture(event.pointerId);
      event.preventDefault();
      return;
    }
    props.onSelect(shapeAt(draft, point, size));
  }

  function pointerMove(event: PointerEvent<SVGSVGElement>) {
    const drag = dragging.current;
    if (drag) props.onMoveVertex(drag.shape, drag.vertex, pointAt(event, event.currentTarget.getBoundingClientRect()));
  }

  return (
    <div className="zone-stage" style={{ aspectRatio: `${props.width} / ${props.height}` }}>
      {imageMissing ? (
        <p className="zone-stage-missing">{t("zones.noImage")}</p>
      ) : (
        <img className="zone-stage-image" src={imageUrl} alt="" onError={() => setImageMissing(true)} />
      )}
      <svg
        data-testid="zone-canvas"
        className={drawing ? "zone-canvas zone-canvas--drawing" : "zone-canvas"}
        viewBox={`0 0 ${W} ${H}`}
        preserveAspectRatio="none"
        onPointerDown={pointerDown}
        onPointerMove={pointerMove}
        onPointerUp={() => (dragging.current = null)}
        onPointerCancel={() => (dragging.current = null)}
      >
        {draft.privacy_masks.map((mask, index) => (
          <polygon
            key={`mask-${index}`}
            data-testid="mask-shape"
            className={isSelected("mask", index) ? "mask-shape shape--selected" : "mask-shape"}
            points={pointsAttr(mask.polygon)}
          />
        ))}
        {draft.zones.map((zone, index) => (
          <polygon
            key={`zone-${index}`}
            className={isSelected("zone", index) ? "zone-shape shape--selected" : "zone-shape"}
            points={pointsAttr(zone.polygon)}
          />
        ))}
        {draft.lines.map((line, index) => (
          <polyline
            key={`line-${index}`}
            className={isSelected("line", index) ? "line-shape shape--selected" : "line-shape"}
            points={pointsAttr(line.points)}
          />
        ))}
        {draft.zones.map((zone, index) => (
          <ShapeName key={`zone-${index}`} at={zone.polygon[0] && toView(zone.polygon[0])} text={zone.name} />
        ))}
        {draft.privacy_masks.map((mask, index) => (
          <ShapeName key={`mask-${index}`} at={mask.polygon[0] && toView(mask.polygon[0])} text={mask.name} />
        ))}
        {draft.lines.map((line, index) => (
          <ShapeName key={`line-${index}`} at={toView(line.points[0])} text={line.name} />
        ))}
        {!drawing &&
          selectedPoints?.map((point, vertex) => {
            const [cx, cy] = toView(point);
            const start = vertex === 0 && selected?.kind === "line";
            return (
              <g key={vertex} data-vertex={vertex} className="handle">
                <circle className="handle-hit" cx={cx} cy={cy} r={HANDLE * 2.5} />
                <circle className={start ? "handle-dot handle-dot--start" : "handle-dot"} cx={cx} cy={cy} r={HANDLE} />
              </g>
            );
          })}
        {drawing && (
          <g className="drawing">
            <polyline points={pointsAttr(drawing.points)} />
            {drawing.points.map((point, vertex) => {
              const [cx, cy] = toView(point);
              const closing = vertex === 0 && drawing.kind !== "line" && drawing.points.length >= 3;
              return (
                <circle
                  key={vertex}
                  className={closing ? "drawing-close" : undefined}
                  cx={cx}
                  cy={cy}
                  r={closing ? HANDLE * 1.8 : HANDLE}
                />
              );
            })}
          </g>
        )}
      </svg>
    </div>
  );
}

function ShapeName({ at, text }: { at: readonly [number, number] | undefined; text: string }) {
  if (!at) return null;
  return (
    <text className="shape-name" x={at[0] + HANDLE * 1.5} y={at[1] + HANDLE * 3} fontSize={W * 0.018}>
      {text}
    </text>
  );
}

function pointAt(event: PointerEvent, rect: DOMRect): Point {
  const clamp = (value: number) => Math.round(Math.min(1, Math.max(0, value)) * 10000) / 10000;
  return [clamp((event.clientX - rect.left) / rect.width), clamp((event.clientY - rect.top) / rect.height)];
}
