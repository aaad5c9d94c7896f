// The model registry (vigia.central.models): every model with its state, sha256, size, where it came from and the
// evaluation gate's verdict; a row opens the model (its numbers, approving, rollouts, audit trail).
import { useEffect, useState } from "react";
import { api, type ListedModel } from "../api";
import { Section } from "../components/Section";
import { errorText } from "../errors";
import { formatBytes } from "../format";
import { t } from "../i18n";
import { Link, navigate, paths } from "../router";
import { gateMap, modelState } from "./modelText";

export function ModelsPage() {
  const [models, setModels] = useState<ListedModel[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.models().then((reply) => setModels(reply.models), (failure) => setError(errorText(failure)));
  }, []);

  return (
    <main className="page" data-testid="models-page">
      <div className="page__head"><h1>{t("models.title")}</h1></div>
      {error && <p className="notice notice--error" role="alert">{error}</p>}
      <Section title={t("models.registry")} testId="models">
        {models === null ? <p className="muted">{t("common.loading")}</p> : models.length === 0 ? (
          <p className="muted" data-testid="models-none">{t("models.none")}</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th>{t("models.name")}</th><th>{t("models.state")}</th><th>{t("models.sha256")}</th>
                <th>{t("models.size")}</th><th>{t("models.dataset")}</th><th>{t("models.base")}</th>
                <th>{t("models.gate")}</th><th>{t("models.rollout")}</th>
              </tr>
            </thead>
            <tbody>
              {models.map((model) => (
                <tr key={model.id} className="clickable" data-testid="model-row" data-model-id={model.id}
                  data-state={model.state} data-gate={model.gate_rejected ? "rejected" : "passed"}
                  onClick={() => navigate(paths.model(model.id))}>
                  <td><Link to={paths.model(model.id)}>{model.id}</Link></td>
                  <td>{modelState(model.state)}</td>
                  <td><code>{model.sha256.slice(0, 12)}</code></td>
                  <td>{formatBytes(model.size)}</td>
                  <td>{String(model.lineage.dataset ?? t("common.none"))}</td>
                  <td>{String(model.lineage.base_model ?? t("common.none"))}</td>
                  <td>{gateMap(model)}</td>
                  <td>{model.latest_rollout ? (
                    <Link to={paths.rollout(model.latest_rollout.id)}>
                      {t("models.rolloutState", { id: String(model.latest_rollout.id),
                        state: t(`rollout.state.${model.latest_rollout.state}`) })}
                    </Link>
                  ) : t("common.none")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </main>
  );
}
