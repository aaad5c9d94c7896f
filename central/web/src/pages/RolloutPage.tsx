// One rollout, refreshed while open: per device its stage (canaries first), its state (pending, downloading,
// installed, healthy, refused or rolled back, with the reason), the new model's health against its own baseline
// under the old one; an admin pauses and resumes it. Its audit trail below.
import { useCallback, useEffect, useState } from "react";
import { api, type ModelHealth, type Rollout, type RolloutDevice } from "../api";
import { Section } from "../components/Section";
import { errorText } from "../errors";
import { t } from "../i18n";
import { Link, paths } from "../router";
import { AuditTrail } from "./ModelPage";
import { perHour } from "./modelText";

const REFRESH_EVERY_MS = 3_000;

export function RolloutPage({ rolloutId, isAdmin }: { rolloutId: number; isAdmin: boolean }) {
  const [rollout, setRollout] = useState<Rollout | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(() => {
    api.rollout(rolloutId).then((reply) => {
      setRollout(reply);
      setError(null);
    }, (failure) => setError(errorText(failure)));
  }, [rolloutId]);

  useEffect(() => {
    load();
    const timer = window.setInterval(load, REFRESH_EVERY_MS);
    return () => window.clearInterval(timer);
  }, [load]);

  const act = (work: Promise<Rollout>) => {
    work.then(setRollout, (failure) => setError(errorText(failure)));
  };

  if (rollout === null) {
    return <main className="page">{error ? <p className="notice notice--error" role="alert">{error}</p>
      : <p className="muted">{t("common.loading")}</p>}</main>;
  }
  return (
    <main className="page" data-testid="rollout-page" data-state={rollout.state}>
      <div className="page__head">
        <h1>{t("rollout.title", { id: String(rollout.id) })}</h1>
        <span className="badge" data-testid="rollout-state">{t(`rollout.state.${rollout.state}`)}</span>
        <Link to={paths.model(rollout.model_id)}>{rollout.model_id}</Link>
        {isAdmin && rollout.state === "running" && (
          <button data-testid="rollout-pause" onClick={() => act(api.pauseRollout(rollout.id))}>{t("rollout.pause")}</button>
        )}
        {isAdmin && rollout.state === "paused" && (
          <button data-testid="rollout-resume" onClick={() => act(api.resumeRollout(rollout.id))}>{t("rollout.resume")}</button>
        )}
      </div>
      {error && <p className="notice notice--error" role="alert">{error}</p>}
      {rollout.reason && <p className="notice" data-testid="rollout-reason">{rollout.reason}</p>}
      <Section title={t("rollout.devicesTitle")} testId="rollout-devices">
        <table>
          <thead>
            <tr><th>{t("rollout.stage")}</th><th>{t("rollout.device")}</th><th>{t("rollout.deviceState")}</th>
              <th>{t("rollout.health")}</th><th>{t("rollout.reasonColumn")}</th></tr>
          </thead>
          <tbody>
            {rollout.devices.map((device) => (
              <tr key={device.device_id} data-testid="rollout-device" data-device-id={device.device_id}
                data-state={device.state} data-stage={device.stage}>
                <td>{device.stage === 0 ? t("rollout.canary") : t("rollout.wave", { n: String(device.stage) })}</td>
                <td><Link to={paths.device(device.device_id)}>{device.device_id}</Link></td>
                <td>{t(`rollout.device.${device.state}`)}</td>
                <td><HealthVsBaseline device={device} /></td>
                <td>{device.reason ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <AuditTrail audit={rollout.audit} />
    </main>
  );
}

/** Detections per hour per label and inference ms under the new model, beside the baseline under the old one. */
function HealthVsBaseline({ device }: { device: RolloutDevice }) {
  const health = device.health as ModelHealth | null;
  const baseline = device.baseline as ModelHealth | null;
  if (!health && !baseline) return <span className="muted">{t("common.none")}</span>;
  const labels = [...new Set([...Object.keys(baseline?.per_hour ?? {}), ...Object.keys(health?.per_hour ?? {})])].sort();
  return (
    <ul className="health" data-testid="rollout-health">
      {labels.map((label) => (
        <li key={label} data-testid="health-label" data-label={label}>
          {t("rollout.perHour", { label, now: perHour(health?.per_hour[label]), before: perHour(baseline?.per_hour[label]) })}
        </li>
      ))}
      <li>{t("rollout.inference", {
        now: health?.inference_ms == null ? t("common.none") : health.inference_ms.toFixed(1),
        before: baseline?.inference_ms == null ? t("common.none") : baseline.inference_ms.toFixed(1),
      })}</li>
      {health && health.errors > 0 && <li>{t("rollout.errors", { n: String(health.errors) })}</li>}
    </ul>
  );
}
