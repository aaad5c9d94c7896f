// Hard examples: the frames re-analysis kept for training, with central's boxes. An operator accepts them,
// rejects them, or fixes them (relabel or remove a box, drag on the frame to add one); reviewed labels win in
// the datasets (`vigia central dataset create`).
import { useCallback, useEffect, useRef, useState, type PointerEvent, type ReactNode } from "react";
import { api, hardExampleImageUrl, type Box, type HardExample, type HardExampleLabel } from "../api";
import { Frame, type Shape } from "../components/Frame";
import { Section } from "../components/Section";
import { errorText } from "../errors";
import { formatTime } from "../format";
import { t } from "../i18n";

const REVIEWS: HardExample["review"][] = ["unreviewed", "accepted", "fixed", "rejected"];
const REASONS: HardExample["reason"][] = ["not_confirmed", "label_differs", "missed", "low_confidence"];
const MIN_SIDE = 0.01; // a dragged box smaller than this (share of the frame) is a click, not a box

export function HardExamplesPage({ canOperate }: { canOperate: boolean }) {
  const [review, setReview] = useState<"" | HardExample["review"]>("unreviewed");
  const [reason, setReason] = useState<"" | HardExample["reason"]>("");
  const [page, setPage] = useState(0);
  const [examples, setExamples] = useState<HardExample[] | null>(null);
  const [nextPage, setNextPage] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const onError = useCallback((failure: unknown) => setError(errorText(failure)), []);

  useEffect(() => {
    let current = true;
    const query = new URLSearchParams();
    if (review) query.set("review", review);
    if (reason) query.set("reason", reason);
    if (page > 0) query.set("page", String(page));
    api.hardExamples(query).then((answer) => {
      if (!current) return;
      setExamples(answer.examples);
      setNextPage(answer.next_page);
    }, (failure: unknown) => current && onError(failure));
    return () => {
      current = false;
    };
  }, [review, reason, page, onError]);

  const replace = (updated: HardExample) =>
    setExamples((old) => old && old.map((e) => (e.id === updated.id ? updated : e)));

  return (
    <main className="page" data-testid="hard-examples-page">
      <div className="page__head"><h1>{t("hard.title")}</h1></div>
      {error && <p className="notice notice--error" role="alert">{error}</p>}
      <Section title={t("hard.frames")} testId="hard-examples">
        <p className="muted">{t("hard.explain")}</p>
        <div className="filters">
          <select data-testid="hard-review" value={review} onChange={(e) => {
            setReview(e.target.value as typeof review);
            setPage(0);
          }}>
            <option value="">{t("hard.allReviews")}</option>
            {REVIEWS.map((r) => <option key={r} value={r}>{t(`hard.review.${r}`)}</option>)}
          </select>
          <select data-testid="hard-reason" value={reason} onChange={(e) => {
            setReason(e.target.value as typeof reason);
            setPage(0);
          }}>
            <option value="">{t("hard.allReasons")}</option>
            {REASONS.map((r) => <option key={r} value={r}>{t(`hard.reason.${r}`)}</option>)}
          </select>
        </div>
        {examples === null ? <p className="muted">{t("common.loading")}</p> : examples.length === 0 ? (
          <p className="muted" data-testid="hard-none">{t("hard.none")}</p>
        ) : (
          <div className="side-by-side">
            {examples.map((example) => (
              <ExampleCard key={example.id} example={example} canOperate={canOperate} onSaved={replace} onError={onError} />
            ))}
          </div>
        )}
        <div className="pager">
          <button disabled={page === 0} onClick={() => setPage(page - 1)}>{t("events.newer")}</button>
          <button data-testid="hard-next" disabled={nextPage === null} onClick={() => nextPage !== null && setPage(nextPage)}>
            {t("events.older")}
          </button>
        </div>
      </Section>
    </main>
  );
}

/** The labels that count for an example: the reviewed ones when an operator fixed it, else central's. */
const effective = (example: HardExample): HardExampleLabel[] =>
  example.review === "fixed" && example.reviewed_labels ? example.reviewed_labels : example.labels;

function ExampleCard(props: { example: HardExample; canOperate: boolean; onSaved: (e: HardExample) => void;
                              onError: (failure: unknown) => void }) {
  const { example, canOperate, onSaved, onError } = props;
  const [draft, setDraft] = useState<HardExampleLabel[] | null>(null); // null: not editing
  const [busy, setBusy] = useState(false);
  const labels = draft ?? effective(example);
  const shapes: Shape[] = labels.map((label, i) => ({
    key: String(i), box: label.box, tone: example.review === "fixed" || draft ? "matched" : "other",
    label: label.label, testId: "hard-box",
  }));
  const decide = (decision: "accepted" | "rejected" | "fixed", fixed?: HardExampleLabel[]) => {
    setBusy(true);
    api.reviewHardExample(example.id, decision, fixed).then((saved) => {
      setDraft(null);
      onSaved(saved);
    }, onError).finally(() => setBusy(false));
  };
  const known = [...new Set(labels.map((l) => l.label))];
  return (
    <article className="card" data-testid="hard-example" data-id={example.id} data-review={example.review}>
      {draft ? (
        <BoxDrawer onBox={(box) => setDraft([...draft, { label: draft[draft.length - 1]?.label ?? "person", box }])}>
          <Frame src={hardExampleImageUrl(example.id)} alt={t("hard.frameOf", { camera: example.camera })}
            shapes={shapes} title={t("hard.drawHint")} testId="hard-frame" />
        </BoxDrawer>
      ) : (
        <Frame src={hardExampleImageUrl(example.id)} alt={t("hard.frameOf", { camera: example.camera })} shapes={shapes}
          title={`${example.device_id} · ${example.camera} · ${formatTime(example.taken_at)}`} testId="hard-frame" />
      )}
      <p>
        <span className={`badge badge--${example.reason}`}>{t(`hard.reason.${example.reason}`)}</span>{" "}
        <span className="badge" data-testid="hard-review-state">{t(`hard.review.${example.review}`)}</span>
        {example.reviewed_by && <span className="muted"> {t("hard.by", { user: example.reviewed_by })}</span>}
      </p>
      {draft && <datalist id={`labels-${example.id}`}>{known.map((l) => <option key={l} value={l} />)}</datalist>}
      {draft && (
        <ul className="plain" data-testid="hard-labels">
          {draft.map((label, i) => (
            <li key={i}>
              <input aria-label={t("hard.label")} data-testid="hard-label" list={`labels-${example.id}`} value={label.label}
                onChange={(e) => setDraft(draft.map((l, j) => (j === i ? { ...l, label: e.target.value } : l)))} />
              <button data-testid="hard-remove" onClick={() => setDraft(draft.filter((_, j) => j !== i))}>
                {t("hard.remove")}
              </button>
            </li>
          ))}
        </ul>
      )}
      {canOperate && (
        <div className="actions">
          {draft ? (
            <>
              <button data-testid="hard-save" disabled={busy} onClick={() => decide("fixed", draft)}>{t("hard.save")}</button>
              <button disabled={busy} onClick={() => setDraft(null)}>{t("hard.cancel")}</button>
            </>
          ) : (
            <>
              <button data-testid="hard-accept" disabled={busy} onClick={() => decide("accepted")}>{t("hard.accept")}</button>
              <button data-testid="hard-reject" disabled={busy} onClick={() => decide("rejected")}>{t("hard.reject")}</button>
              <button data-testid="hard-fix" disabled={busy} onClick={() => setDraft(effective(example))}>{t("hard.fix")}</button>
            </>
          )}
        </div>
      )}
    </article>
  );
}

/** Drag on the frame to draw a box; `onBox` gets it in shares of the frame. */
function BoxDrawer({ children, onBox }: { children: ReactNode; onBox: (box: Box) => void }) {
  const start = useRef<[number, number] | null>(null);
  const at = (event: PointerEvent<HTMLDivElement>): [number, number] => {
    const media = event.currentTarget.querySelector(".frame__media") ?? event.currentTarget;
    const rect = media.getBoundingClientRect();
    const clamp = (v: number) => Math.min(Math.max(v, 0), 1);
    return [clamp((event.clientX - rect.left) / rect.width), clamp((event.clientY - rect.top) / rect.height)];
  };
  const down = (event: PointerEvent<HTMLDivElement>) => {
    start.current = at(event);
  };
  const up = (event: PointerEvent<HTMLDivElement>) => {
    if (!start.current) return;
    const [x0, y0] = start.current;
    const [x1, y1] = at(event);
    start.current = null;
    const box: Box = [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)];
    if (box[2] - box[0] >= MIN_SIDE && box[3] - box[1] >= MIN_SIDE) onBox(box);
  };
  return <div className="drawer" data-testid="hard-drawer" onPointerDown={down} onPointerUp={up}>{children}</div>;
}
