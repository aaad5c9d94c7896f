import { useState } from "react";
import { api } from "../../api/client";
import type { VigiaEvent } from "../../api/types";
import { t } from "../../i18n";
import { errorMessage } from "../../lib/errors";

interface Props {
  event: VigiaEvent;
  onChange(keep: boolean): void;
}

/** Keep: the event's footage is spared by retention. */
export function KeepToggle({ event, onChange }: Props) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function toggle(keep: boolean) {
    setBusy(true);
    setError(null);
    try {
      onChange((await api.setKeep(event.id, keep)).keep);
    } catch (failure) {
      setError(errorMessage(failure));
    }
    setBusy(false);
  }

  return (
    <div className="keep">
      <label className="check">
        <input
          data-testid="keep-toggle"
          type="checkbox"
          checked={event.keep}
          disabled={busy}
          onChange={(change) => void toggle(change.target.checked)}
        />
        {t("detail.keep")}
      </label>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
