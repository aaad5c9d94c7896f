import { useEffect, useState } from "react";
import type { VigiaEvent } from "../api/types";
import { t } from "../i18n";

interface Props {
  event: VigiaEvent;
  className?: string;
  alt?: string;
  lazy?: boolean;
  /** Where there is no picture (yet), a labelled box rather than nothing. */
  placeholder?: boolean;
}

const RETRY_MS = 2000;  // an ongoing event's snapshot is asked for again this often until it loads
const MAX_RETRIES = 30;

/**
 * The event's snapshot, its best view so far. It is written a moment after the event opens: while the event is
 * ongoing a failed load is tried again every few seconds, and once more when the event closes; meanwhile (and
 * when there is none) `placeholder` shows a labelled box.
 */
export function Snapshot({ event, className, alt = "", lazy = false, placeholder = false }: Props) {
  const version = `${event.id}:${event.ended_at}`;
  const [failed, setFailed] = useState<{ version: string; tries: number } | null>(null);
  const [attempt, setAttempt] = useState(0);
  const ongoing = event.ended_at === null;
  const missing = failed?.version === version && failed.tries > attempt;
  useEffect(() => {
    if (!missing || !ongoing || attempt >= MAX_RETRIES) return;
    const timer = window.setTimeout(() => setAttempt((n) => n + 1), RETRY_MS);
    return () => window.clearTimeout(timer);
  }, [missing, ongoing, attempt]);
  if (!event.snapshot_url || missing) {
    if (!placeholder) return null;
    return (
      <span className={`snapshot-placeholder ${className ?? ""}`} data-testid="snapshot-placeholder">
        {ongoing ? t("snapshot.pending") : t("snapshot.none")}
      </span>
    );
  }
  const src = attempt ? `${event.snapshot_url}${event.snapshot_url.includes("?") ? "&" : "?"}try=${attempt}` : event.snapshot_url;
  return (
    <img
      key={`${version}:${attempt}`}
      className={className}
      src={src}
      alt={alt}
      loading={lazy ? "lazy" : undefined}
      onError={() => setFailed({ version, tries: attempt + 1 })}
    />
  );
}
