// One model: its record (sha256, size, contract), lineage, the evaluation gate's numbers before and after; for an
// admin, approving (a gate-rejected candidate only with an explicit override), retiring and starting a rollout;
// its rollouts and its audit trail.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, type Model, type ModelAudit, type RolloutRequest, type RolloutSummary } from "../api";
import { Section } from "../components/Section";
import { errorText } from "../errors";
import { formatBytes, formatDuration, formatTime } from "../format";
import { t } from "../i18n";
import { Link, navigate, paths } from "../router";
import { gateOf, measured, modelState, score } from "./modelText";

type Detail = { model: Model; rollouts: RolloutSummary[]; audit: ModelAudit[] };

export function ModelPage({ modelId, isAdmin }: { modelId: string; isAdmin: boolean }) {
  const [detail, setDetail] = useState<Detail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [override, setOverride] = useState(false);

  const load = useCallback(() => {
    api.model(modelId).then((reply) => {
      setDetail(reply as Detail);
      setError(null);
    }, (failure) => setError(errorText(failure)));
  }, [modelId]);

  useEffect(load, [load]);

  const act = (work: Promise<unknown>) => {
    work.then(load, (failure) => setError(errorText(failure)));
  };

  if (detail === null) {
    return <main className="page">{error ? <p className="notice notice--error" role="alert">{error}</p>
      : <p className="muted">{t("common.loading")}</p>}</main>;
  }
  const { model } = detail;
  const gate = gateOf(model);
  const lineage = model.lineage as Record<string, unknown>;
  return (
    <main className="page" data-testid="model-page" data-model-id={model.id} data-state={model.state}>
      <div className="page__head">
        <h1>{model.id}</h1>
        <span className="badge" data-testid="model-state">{modelState(model.state)}</span>
        <Link to={paths.models}>{t("models.back")}</Link>
      </div>
      {error && <p className="notice notice--error" role="alert" data-testid="model-error">{error}</p>}
      <Section title={t("models.record")} testId="model-record">
        <dl className="facts">
          <dt>{t("models.sha256")}</dt><dd><code title={model.sha256}>{model.sha256.slice(0, 16)}</code></dd>
          <dt>{t("models.size")}</dt><dd data-testid="model-size">{formatBytes(model.size)}</dd>
          <dt>{t("models.contract")}</dt>
          <dd>{`${model.input_shape.join("×")} → ${model.output_shape.join("×")} (${model.num_classes})`}</dd>
          <dt>{t("models.signed")}</dt><dd>{model.signed ? t("models.yes") : t("models.no")}</dd>
          <dt>{t("models.base")}</dt><dd>{String(lineage.base_model ?? t("common.none"))}</dd>
          <dt>{t("models.dataset")}</dt><dd data-testid="model-dataset">{String(lineage.dataset ?? t("common.none"))}</dd>
          <dt>{t("models.seed")}</dt><dd>{String(lineage.seed ?? t("common.none"))}</dd>
          <dt>{t("models.trainTime")}</dt>
          <dd>{typeof lineage.train_seconds === "number" ? formatDuration(lineage.train_seconds) : t("common.none")}</dd>
          <dt>{t("models.hyper")}</dt>
          <dd><code data-testid="model-hyper">{JSON.stringify(lineage.hyper_parameters ?? {})}</code></dd>
        </dl>
      </Section>
      <Section title={t("models.gate")} testId="model-gate">
        <p data-testid="gate-verdict" data-passed={String(gate.passed)}>
          {gate.passed === null ? t("models.gate.none") : gate.passed ? t("models.gate.passed") : t("models.gate.rejected")}
        </p>
        <GateTable model={model} />
        <ul>{gate.reasons.map((reason) => <li key={reason} data-testid="gate-reason">{reason}</li>)}</ul>
      </Section>
      {isAdmin && (
        <Section title={t("models.actions")} testId="model-actions">
          {model.state === "candidate" && (
            <p>
              {model.gate_rejected && (
                <label>
                  <input type="checkbox" data-testid="approve-override" checked={override}
                    onChange={(e) => setOverride(e.target.checked)} />
                  {" "}{t("models.override")}
                </label>
              )}
              {" "}
              <button data-testid="model-approve" disabled={model.gate_rejected && !override}
                onClick={() => act(api.approveModel(model.id, override))}>{t("models.approve")}</button>
            </p>
          )}
          {(model.state === "candidate" || model.state === "approved" || model.state === "deployed") && (
            <p><button data-testid="model-retire" onClick={() => act(api.retireModel(model.id))}>{t("models.retire")}</button></p>
          )}
          {model.signed && model.state !== "retired" && (
            <RolloutForm onStart={(body) => api.startRollout(model.id, body).then(
              (started) => navigate(paths.rollout(started.id)), (failure) => setError(errorText(failure)))} />
          )}
        </Section>
      )}
      <Section title={t("models.rollouts")} testId="model-rollouts">
        {detail.rollouts.length === 0 ? <p className="muted">{t("models.noRollouts")}</p> : (
          <ul>
            {detail.rollouts.map((r) => (
              <li key={r.id} data-testid="model-rollout">
                <Link to={paths.rollout(r.id)}>{t("models.rolloutState", { id: String(r.id), state: t(`rollout.state.${r.state}`) })}</Link>
                {` ${formatTime(r.created_at)} · ${r.created_by}`}
              </li>
            ))}
          </ul>
        )}
      </Section>
      <AuditTrail audit={detail.audit} />
    </main>
  );
}

function GateTable({ model }: { model: Model }) {
  const rows = (["heldout", "regression"] as const).map((split) => ({
    split, before: measured(model, "base", split), after: measured(model, "candidate", split),
  }));
  if (rows.every((row) => !row.before && !row.after)) return null;
  const classes = [...new Set(rows.flatMap((row) => Object.keys({ ...row.before?.recall_per_class, ...row.after?.recall_per_class })))];
  return (
    <table data-testid="gate-table">
      <thead>
        <tr><th>{t("models.split")}</th><th>{t("models.measure")}</th><th>{t("models.before")}</th><th>{t("models.after")}</th></tr>
      </thead>
      <tbody>
        {rows.flatMap(({ split, before, after }) => [
          <tr key={`${split}-map`} data-testid="gate-row" data-split={split} data-measure="map50">
            <td>{t(`models.split.${split}`)}</td><td>mAP@0.5</td><td>{score(before?.map50)}</td><td>{score(after?.map50)}</td>
          </tr>,
          ...classes.map((name) => (
            <tr key={`${split}-${name}`} data-testid="gate-row" data-split={split} data-measure={`recall:${name}`}>
              <td>{t(`models.split.${split}`)}</td><td>{t("models.recallOf", { label: name })}</td>
              <td>{score(before?.recall_per_class[name])}</td><td>{score(after?.recall_per_class[name])}</td>
            </tr>
          )),
        ])}
      </tbody>
    </table>
  );
}

function RolloutForm({ onStart }: { onStart: (body: RolloutRequest) => void }) {
  const [target, setTarget] = useState<"devices" | "site">("devices");
  const [targetText, setTargetText] = useState("");
  const [canaryKind, setCanaryKind] = useState<"names" | "percent">("names");
  const [canaryText, setCanaryText] = useState("");
  const [waveSize, setWaveSize] = useState(10);
  const list = (text: string) => text.split(/[\s,]+/).filter(Boolean);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onStart({
      ...(target === "devices" ? { devices: list(targetText) } : { site: targetText.trim() }),
      ...(canaryKind === "names" ? { canaries: list(canaryText) } : { canary_percent: Number(canaryText) }),
      wave_size: waveSize,
    });
  };
  return (
    <form className="form" onSubmit={submit} data-testid="rollout-form">
      <h3>{t("rollout.start")}</h3>
      <label>
        <select data-testid="rollout-target" value={target} onChange={(e) => setTarget(e.target.value as "devices" | "site")}>
          <option value="devices">{t("rollout.devices")}</option>
          <option value="site">{t("rollout.site")}</option>
        </select>
        <input data-testid="rollout-target-value" value={targetText} onChange={(e) => setTargetText(e.target.value)}
          placeholder={target === "devices" ? "gate-01, dock-02" : "north"} required />
      </label>
      <label>
        <select data-testid="rollout-canary-kind" value={canaryKind}
          onChange={(e) => setCanaryKind(e.target.value as "names" | "percent")}>
          <option value="names">{t("rollout.canaries")}</option>
          <option value="percent">{t("rollout.canaryPercent")}</option>
        </select>
        <input data-testid="rollout-canaries" value={canaryText} onChange={(e) => setCanaryText(e.target.value)} required />
      </label>
      <label>
        {t("rollout.waveSize")}{" "}
        <input type="number" min={1} max={500} data-testid="rollout-wave-size" value={waveSize}
          onChange={(e) => setWaveSize(Number(e.target.value))} />
      </label>
      <button type="submit" data-testid="rollout-submit">{t("rollout.submit")}</button>
    </form>
  );
}

export function AuditTrail({ audit }: { audit: ModelAudit[] }) {
  return (
    <Section title={t("models.audit")} testId="model-audit">
      <table>
        <thead>
          <tr><th>{t("models.when")}</th><th>{t("models.action")}</th><th>{t("models.actor")}</th>
            <th>{t("rollout.device")}</th><th>{t("models.detail")}</th></tr>
        </thead>
        <tbody>
          {audit.map((entry) => (
            <tr key={entry.id} data-testid="audit-row" data-action={entry.action}>
              <td>{formatTime(entry.at)}</td><td>{entry.action}</td><td>{entry.actor}</td>
              <td>{entry.device_id ?? ""}</td><td><code>{JSON.stringify(entry.detail)}</code></td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}
