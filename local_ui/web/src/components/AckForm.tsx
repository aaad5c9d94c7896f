import { useState, type FormEvent } from "react";
import { api } from "../api/client";
import { t } from "../i18n";
import { errorMessage } from "../lib/errors";
import { live } from "../live/store";

interface Props {
  eventId: string;
  /** Called after a successful acknowledgement and on cancel. */
  onClose(): void;
}

/** An optional comment and the button that acknowledges the event. */
export function AckForm({ eventId, onClose }: Props) {
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      live.acknowledged(await api.acknowledge(eventId, comment.trim()));
      onClose();
    } catch (failure) {
      setError(errorMessage(failure));
      setBusy(false);
    }
  }

  return (
    <form className="ack-form" onSubmit={submit}>
      <textarea
        data-testid="ack-comment"
        aria-label={t("ack.comment")}
        placeholder={t("ack.comment")}
        rows={2}
        maxLength={1000}
        value={comment}
        onChange={(event) => setComment(event.target.value)}
        autoFocus
      />
      <div className="ack-form-buttons">
        <button data-testid="ack-submit" type="submit" className="button button--primary" disabled={busy}>
          {t("ack.submit")}
        </button>
        <button type="button" className="button button--quiet" onClick={onClose} disabled={busy}>
          {t("common.cancel")}
        </button>
      </div>
      {error && <p className="error" role="alert">{error}</p>}
    </form>
  );
}
