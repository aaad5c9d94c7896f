import { useState } from "react";
import type { VigiaEvent } from "../api/types";

interface Props {
  event: VigiaEvent;
  className?: string;
  alt?: string;
  lazy?: boolean;
}

/**
 * The event's snapshot. It is written a moment after the event opens, so a failed load is hidden
 * and tried again when the event changes (closes).
 */
export function Snapshot({ event, className, alt = "", lazy = false }: Props) {
  const version = `${event.id}:${event.ended_at}`;
  const [failed, setFailed] = useState<string | null>(null);
  if (!event.snapshot_url || failed === version) return null;
  return (
    <img
      key={version}
      className={className}
      src={event.snapshot_url}
      alt={alt}
      loading={lazy ? "lazy" : undefined}
      onError={() => setFailed(version)}
    />
  );
}
