// A small bar chart (plain SVG): each bar's height against `max`, an optional part of it (alerts among events,
// dropped frames) drawn over it in the alert colour. A null value is a gap (nothing known then).

export interface BarValue {
  key: string;
  value: number | null;
  part?: number;
  title: string;
}

const HEIGHT = 40;

export function Bars(props: { values: BarValue[]; max: number; testId: string; barWidth?: number }) {
  const { values, max, testId, barWidth = 10 } = props;
  const gap = Math.max(1, Math.round(barWidth / 3));
  const step = barWidth + gap;
  const scale = max > 0 ? HEIGHT / max : 0;
  return (
    <svg className="bars" data-testid={testId} width={values.length * step} height={HEIGHT}
      viewBox={`0 0 ${values.length * step} ${HEIGHT}`} role="img">
      {values.map(({ key, value, part, title }, i) => {
        const height = value === null ? 0 : Math.max(value * scale, value > 0 ? 1 : 0);
        const partHeight = part ? Math.max(Math.min(part, value ?? part) * scale, 1) : 0;
        return (
          <g key={key} data-testid="bar" data-key={key} data-value={value ?? ""} data-part={part ?? ""}>
            <title>{title}</title>
            <rect className="bars__slot" x={i * step} y={0} width={barWidth} height={HEIGHT} />
            {value !== null && <rect className="bars__bar" x={i * step} y={HEIGHT - height} width={barWidth} height={height} />}
            {partHeight > 0 && <rect className="bars__part" x={i * step} y={HEIGHT - partHeight} width={barWidth} height={partHeight} />}
          </g>
        );
      })}
    </svg>
  );
}

/** The last `count` UTC days, oldest first, as YYYY-MM-DD. */
export function lastDays(count: number, now: Date = new Date()): string[] {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return Array.from({ length: count }, (_, i) => new Date(today - (count - 1 - i) * 86_400_000).toISOString().slice(0, 10));
}

export interface PeriodValue extends BarValue {
  start: number; // epoch seconds
  end: number;
}

const TIME_WIDTH = 720;

/** Bars on a time axis from `from` to `to` (epoch seconds): each as wide as its period (at least 2 px), so a time
 * without reports is an empty stretch. */
export function TimeBars(props: { values: PeriodValue[]; max: number; from: number; to: number; testId: string }) {
  const { values, max, from, to, testId } = props;
  const span = Math.max(to - from, 1);
  const x = (time: number) => ((Math.min(Math.max(time, from), to) - from) / span) * TIME_WIDTH;
  const scale = max > 0 ? HEIGHT / max : 0;
  return (
    <svg className="bars bars--time" data-testid={testId} width={TIME_WIDTH} height={HEIGHT}
      viewBox={`0 0 ${TIME_WIDTH} ${HEIGHT}`} role="img">
      <rect className="bars__slot" x={0} y={0} width={TIME_WIDTH} height={HEIGHT} />
      {values.map(({ key, value, part, title, start, end }) => {
        const left = x(start);
        const width = Math.max(x(end) - left, 2);
        const height = value === null ? 0 : Math.max(value * scale, value > 0 ? 1 : 0);
        const partHeight = part ? Math.max(Math.min(part, value ?? part) * scale, 1) : 0;
        return (
          <g key={key} data-testid="bar" data-key={key} data-value={value ?? ""} data-part={part ?? ""}>
            <title>{title}</title>
            {value !== null && <rect className="bars__bar" x={left} y={HEIGHT - height} width={width} height={height} />}
            {partHeight > 0 && <rect className="bars__part" x={left} y={HEIGHT - partHeight} width={width} height={partHeight} />}
          </g>
        );
      })}
    </svg>
  );
}
