import { useState, type FormEvent } from "react";
import { api } from "../../api/client";
import type { Comment, EventDetail } from "../../api/types";
import { t } from "../../i18n";
import { errorMessage } from "../../lib/errors";
import { formatTime } from "../../lib/format";

interface Props {
  event: EventDetail;
  onAdded(comment: Comment): void;
}

export function Comments({ event, onAdded }: Props) {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(form: FormEvent) {
    form.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onAdded(await api.addComment(event.id, text.trim()));
      setText("");
    } catch (failure) {
      setError(errorMessage(failure));
    }
    setBusy(false);
  }

  return (
    <section className="comments">
      <h2>{t("comments.title")}</h2>
      {event.comments.length === 0 && <p className="muted">{t("comments.none")}</p>}
      <ul>
        {event.comments.map((comment) => (
          <li key={comment.id} className={`comment comment--${comment.kind}`}>
            <span className="comment-meta">
              {comment.username} · {formatTime(comment.at)}
              {comment.kind === "ack" && ` · ${t("comments.ack")}`}
            </span>
            {comment.text && <p>{comment.text}</p>}
          </li>
        ))}
      </ul>
      <form className="comment-form" onSubmit={submit}>
        <textarea
          data-testid="comment-input"
          aria-label={t("comments.add")}
          placeholder={t("comments.placeholder")}
          rows={3}
          maxLength={2000}
          required
          value={text}
          onChange={(change) => setText(change.target.value)}
        />
        <button data-testid="comment-submit" type="submit" className="button" disabled={busy || !text.trim()}>
          {t("comments.add")}
        </button>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}
