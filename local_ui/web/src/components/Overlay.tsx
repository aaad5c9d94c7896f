import type { Layout, Point, Track } from "../api/types";
import { formatScore } from "../lib/format";

interface Props {
  layout: Layout | null | undefined;
  tracks: Track[];
}

const points = (polygon: Point[]) => polygon.map(([x, y]) => `${x},${y}`).join(" ");
const percent = (value: number) => `${value * 100}%`;

/** Zones, lines and tracked objects drawn over a camera image (all in normalised coordinates). */
export function Overlay({ layout, tracks }: Props) {
  return (
    <div className="overlay" aria-hidden="true">
      <svg className="overlay-svg" viewBox="0 0 1 1" preserveAspectRatio="none">
        {layout?.zones.map((zone) => (
          <polygon key={zone.name} className="overlay-zone" points={points(zone.polygon)} />
        ))}
        {layout?.lines.map((line) => (
          <polyline key={line.name} className="overlay-line" points={points(line.points)} />
        ))}
        {tracks.map(({ id, box: [x1, y1, x2, y2] }) => (
          <rect key={id} className="overlay-track" x={x1} y={y1} width={x2 - x1} height={y2 - y1} />
        ))}
      </svg>
      {layout?.zones.map((zone) => (
        <Tag key={zone.name} className="overlay-tag overlay-tag--zone" at={zone.polygon[0]} text={zone.name} />
      ))}
      {layout?.lines.map((line) => (
        <Tag key={line.name} className="overlay-tag overlay-tag--line" at={line.points[0]} text={line.name} />
      ))}
      {tracks.map((track) => (
        <Tag
          key={track.id}
          className="overlay-tag overlay-tag--track"
          at={[track.box[0], track.box[1]]}
          text={`${track.label} ${formatScore(track.score)}`}
        />
      ))}
    </div>
  );
}

function Tag({ at, text, className }: { at: Point | undefined; text: string; className: string }) {
  if (!at) return null;
  return (
    <span className={className} style={{ left: percent(at[0]), top: percent(at[1]) }}>
      {text}
    </span>
  );
}
