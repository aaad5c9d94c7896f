import { useState } from "react";
import { errorOf } from "../../api/client";
import type { VigiaEvent } from "../../api/types";
import { t } from "../../i18n";

/** The event's clip (the server answers range requests, so seeking works) and its download link. */
export function ClipPlayer({ event }: { event: VigiaEvent }) {
  const [attempt, setAttempt] = useState(0);
  const [problem, setProblem] = useState<string | null>(null);

  /** The <video> only says it failed: ask the server why. */
  async function explain() {
    try {
      const response = await fetch(event.clip_url, { headers: { Range: "bytes=0-0" } });
      setProblem(response.ok ? t("clip.unplayable") : (await errorOf(response)).message);
    } catch {
      setProblem(t("error.network"));
    }
  }

  function retry() {
    setProblem(null);
    setAttempt(attempt + 1);
  }

  return (
    <div className="clip">
      <video
        key={`${attempt}:${event.ended_at}`}
        data-testid="clip-video"
        className="clip-video"
        src={event.clip_url}
        controls
        preload="metadata"
        playsInline
        onError={() => void explain()}
      />
      {problem && (
        <div className="clip-problem" role="status">
          <p>{event.ended_at === null ? t("clip.ongoing") : t("clip.unavailable")}</p>
          <p className="muted">{problem}</p>
          <button type="button" className="button" onClick={retry}>
            {t("common.retry")}
          </button>
        </div>
      )}
      <a data-testid="clip-download" className="button" href={`${event.clip_url}?download=true`} download>
        {t("clip.download")}
      </a>
    </div>
  );
}
