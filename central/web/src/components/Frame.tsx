// A camera frame (the event's thumbnail, or a blank 16:9 when there is none) with boxes and paths drawn over it,
// all in shares of the frame's width and height.
import type { Box, PathPoint } from "../api";

export interface Shape {
  key: string;
  box: Box;
  path?: PathPoint[];
  tone: "edge" | "matched" | "other" | "missed";
  label: string;
  testId: string;
}

const points = (path: PathPoint[]) => path.map(([, x, y]) => `${x},${y}`).join(" ");
const percent = (value: number) => `${Math.min(Math.max(value, 0), 1) * 100}%`;

export function Frame(props: { src: string | null; alt: string; shapes: Shape[]; title: string; testId: string }) {
  const { src, alt, shapes, title, testId } = props;
  return (
    <figure className="frame" data-testid={testId}>
      <figcaption>{title}</figcaption>
      <div className="frame__media">
        {src ? <img src={src} alt={alt} data-testid={`${testId}-image`} /> : <div className="frame__blank" />}
        <svg className="frame__overlay" viewBox="0 0 1 1" preserveAspectRatio="none" aria-hidden="true">
          {shapes.map(({ key, box: [x1, y1, x2, y2], path, tone, testId: shapeId }) => (
            <g key={key} className={`shape shape--${tone}`}>
              {path && path.length > 1 && <polyline points={points(path)} vectorEffect="non-scaling-stroke" />}
              <rect x={x1} y={y1} width={x2 - x1} height={y2 - y1} vectorEffect="non-scaling-stroke"
                data-testid={shapeId} data-tone={tone} />
            </g>
          ))}
        </svg>
        {shapes.map(({ key, box, tone, label }) => (
          <span key={key} className={`tag tag--${tone}`} style={{ left: percent(box[0]), top: percent(box[1]) }}>{label}</span>
        ))}
      </div>
    </figure>
  );
}
