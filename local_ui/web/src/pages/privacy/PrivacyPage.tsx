import { useEffect, useState } from "react";
import { api } from "../../api/client";
import type { Camera, ExportJob } from "../../api/types";
import { t } from "../../i18n";
import { errorMessage } from "../../lib/errors";
import { hasRole, useSession } from "../../session";
import { DataSubjectRequests } from "./DataSubjectRequests";

const POLL_MS = 2000;
const TARGETS = ["persons", "faces", "plates"] as const;

/** Each camera's retention and privacy masks, the signage notice, and (admins) the export for disclosure and the
 * data-subject requests (#/privacy). */
export function PrivacyPage() {
  const session = useSession();
  const [cameras, setCameras] = useState<Camera[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.cameras().then(
      (reply) => setCameras(reply.cameras ?? []),
      (failure: unknown) => setError(errorMessage(failure)),
    );
  }, []);
  if (error) return <p className="notice notice--error">{error}</p>;
  if (!cameras) return <p className="notice">{t("common.loading")}</p>;
  return (
    <section className="privacy-page" data-testid="privacy-page">
      <h1>{t("privacy.title")}</h1>
      <h2>{t("privacy.retention")}</h2>
      <table data-testid="retention" className="retention-table">
        <thead>
          <tr>
            <th>{t("privacy.camera")}</th>
            <th>{t("privacy.footage")}</th>
            <th>{t("privacy.events")}</th>
            <th>{t("privacy.masks")}</th>
          </tr>
        </thead>
        <tbody>
          {cameras.map((camera) => (
            <tr key={camera.name}>
              <td>{camera.name}</td>
              <td>
                {camera.retention?.footage_days != null
                  ? t("privacy.days", { n: camera.retention.footage_days })
                  : t("privacy.noContinuous")}
              </td>
              <td>
                {Object.entries(camera.retention?.event_days ?? {})
                  .map(([label, days]) => `${label === "default" ? t("privacy.allLabels") : label}: ${t("privacy.days", { n: days })}`)
                  .join(", ")}
              </td>
              <td>{camera.privacy_masks ?? 0}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>{t("privacy.notice")}</h2>
      <p>
        <a data-testid="notice-pt" className="button" href="/api/v1/privacy/notice?lang=pt-BR" target="_blank" rel="noreferrer">
          {t("privacy.noticePt")}
        </a>{" "}
        <a data-testid="notice-en" className="button" href="/api/v1/privacy/notice?lang=en" target="_blank" rel="noreferrer">
          {t("privacy.noticeEn")}
        </a>
      </p>
      {hasRole(session, "admin") && <DisclosureExport cameras={cameras} />}
      {hasRole(session, "admin") && <DataSubjectRequests cameras={cameras} />}
    </section>
  );
}

function DisclosureExport({ cameras }: { cameras: Camera[] }) {
  const [camera, setCamera] = useState(cameras[0]?.name ?? "");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [targets, setTargets] = useState<string[]>(["persons"]);
  const [keep, setKeep] = useState("");
  const [jobs, setJobs] = useState<ExportJob[]>([]);
  const [error, setError] = useState<string | null>(null);
  const running = jobs.some((job) => job.state === "running");

  useEffect(() => {
    const refresh = () => api.exports().then((reply) => setJobs(reply.exports ?? []), () => undefined);
    void refresh();
    if (!running) return;
    const timer = window.setInterval(() => void refresh(), POLL_MS);
    return () => window.clearInterval(timer);
  }, [running]);

  async function start() {
    setError(null);
    try {
      const job = await api.startExport({
        camera,
        from: new Date(from).getTime() / 1000,
        to: new Date(to).getTime() / 1000,
        redact: targets as (typeof TARGETS)[number][],
        keep_events: keep
          .split(",")
          .map((id) => id.trim())
          .filter(Boolean),
      });
      setJobs([job, ...jobs]);
    } catch (failure) {
      setError(errorMessage(failure));
    }
  }

  const toggle = (target: string) =>
    setTargets(targets.includes(target) ? targets.filter((x) => x !== target) : [...targets, target]);
  return (
    <div className="disclosure">
      <h2>{t("privacy.export")}</h2>
      <p className="muted">{t("privacy.exportHelp")}</p>
      <div className="disclosure-form">
        <label>
          {t("privacy.camera")}
          <select data-testid="export-camera" value={camera} onChange={(event) => setCamera(event.target.value)}>
            {cameras.map((c) => (
              <option key={c.name}>{c.name}</option>
            ))}
          </select>
        </label>
        <label>
          {t("privacy.from")}
          <input data-testid="export-from" type="datetime-local" step="1" value={from} onChange={(event) => setFrom(event.target.value)} />
        </label>
        <label>
          {t("privacy.to")}
          <input data-testid="export-to" type="datetime-local" step="1" value={to} onChange={(event) => setTo(event.target.value)} />
        </label>
        <fieldset>
          <legend>{t("privacy.hide")}</legend>
          {TARGETS.map((target) => (
            <label key={target}>
              <input type="checkbox" checked={targets.includes(target)} onChange={() => toggle(target)} /> {t(`privacy.target.${target}`)}
            </label>
          ))}
        </fieldset>
        <label>
          {t("privacy.keep")}
          <input data-testid="export-keep" value={keep} onChange={(event) => setKeep(event.target.value)} />
        </label>
        <button data-testid="export-start" type="button" className="button button--primary" disabled={!from || !to} onClick={() => void start()}>
          {t("privacy.start")}
        </button>
      </div>
      {error && (
        <p data-testid="export-error" className="error" role="alert">
          {error}
        </p>
      )}
      <ul data-testid="exports" className="export-list">
        {jobs.map((job) => (
          <li key={job.id} data-state={job.state}>
            {job.camera} · {new Date(job.from * 1000).toLocaleString()} – {new Date(job.to * 1000).toLocaleString()} ·{" "}
            {t(`privacy.state.${job.state}`)}
            {job.state === "done" && (
              <>
                {" "}
                <a href={`/api/v1/exports/${job.id}/video`} download>
                  {t("privacy.video")}
                </a>{" "}
                <a href={`/api/v1/exports/${job.id}/manifest`} download>
                  {t("privacy.manifest")}
                </a>
              </>
            )}
            {job.error && <span className="error"> {job.error}</span>}
          </li>
        ))}
      </ul>
    </div>
  );
}
