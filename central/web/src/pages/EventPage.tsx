// One event: its thumbnail with the edge's box beside the same frame with central's tracks, its clip (played
// from the bucket through a short-lived link), central's verdict, the re-analysis jobs, and a button to ask again.
import { useCallback, useEffect, useState } from "react";
import { api, thumbnailUrl, type CentralEvent, type EventReanalysis, type Job } from "../api";
import { Frame, type Shape } from "../components/Frame";
import { Section } from "../components/Section";
import { errorText } from "../errors";
import { formatAgo, formatDuration, formatShare, formatTime } from "../format";
import { t } from "../i18n";
import { Link, paths } from "../router";

const OPEN_STATES: Job["state"][] = ["waiting_clip", "ready", "queued"];
const REFRESH_MS = 10_000; // while a job is open, look again now and then

export function EventPage({ deviceId, eventId, canOperate }: { deviceId: string; eventId: string; canOperate: boolean }) {
  const [data, setData] = useState<EventReanalysis | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [requested, setRequested] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(() => {
    api.reanalysis(deviceId, eventId).then((answer) => {
      setData(answer);
      setError(null);
    }, (failure: unknown) => setError(errorText(failure)));
  }, [deviceId, eventId]);

  useEffect(load, [load]);
  const open = data?.jobs.find((job) => OPEN_STATES.includes(job.state)) ?? null;
  const openId = open?.job_id ?? null;
  useEffect(() => {
    if (openId === null) return undefined;
    const timer = window.setInterval(load, REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [openId, load]);

  const reanalyse = () => {
    setBusy(true);
    api.requestReanalysis(deviceId, eventId).then((answer) => {
      setRequested(answer.created ? t("reanalysis.requested") : t("reanalysis.alreadyOpen"));
      load();
    }, (failure: unknown) => setError(errorText(failure))).finally(() => setBusy(false));
  };

  if (data === null) {
    return <main className="page">{error ? <p className="notice notice--error" role="alert">{error}</p> : <p className="muted">{t("common.loading")}</p>}</main>;
  }
  const { edge, verdict, analysis } = data;
  const missedTracks = new Set((analysis?.events ?? []).filter((e) => e.missed && e.track !== null).map((e) => e.track));
  const edgeShapes: Shape[] = [{ key: "edge", box: edge.box, path: edge.path, tone: "edge", testId: "edge-box",
                                 label: `${edge.label} ${formatShare(edge.max_score)}` }];
  const centralShapes: Shape[] = (analysis?.tracks ?? []).map((track) => ({
    key: `track-${track.track}`, box: track.best_box, path: track.path, testId: "central-box",
    tone: verdict?.central_track === track.track ? "matched" : missedTracks.has(track.track) ? "missed" : "other",
    label: `#${track.track} ${track.label} ${formatShare(track.max_score)}`,
  }));
  const src = edge.has_thumbnail ? thumbnailUrl(edge) : null;

  return (
    <main className="page" data-testid="event-page">
      <div className="page__head">
        <h1>{t("event.title", { camera: edge.camera, label: edge.label })}</h1>
        <Link to={paths.device(deviceId)}>{deviceId}</Link>
        {edge.site && <span className="muted">{edge.site}</span>}
        <span>{formatTime(edge.started_at)}</span>
        {edge.alert && <span className="badge badge--alert">{t("events.alert")}</span>}
        {canOperate && (
          <button className="primary" data-testid="reanalyse" disabled={busy || open !== null} onClick={reanalyse}
            title={open ? t("reanalysis.alreadyOpen") : undefined}>
            {t("reanalysis.button")}
          </button>
        )}
        {requested && <span className="muted" data-testid="reanalyse-result">{requested}</span>}
      </div>
      {error && <p className="notice notice--error" role="alert">{error}</p>}
      <Section title={t("event.verdict")} testId="verdict-section">
        <VerdictLine data={data} open={open} />
      </Section>
      <Section title={t("event.sideBySide")}>
        <div className="side-by-side">
          <Frame testId="edge-frame" title={t("event.edge", { rule: edge.rule })} src={src} shapes={edgeShapes}
            alt={t("events.thumbnail", { camera: edge.camera })} />
          <Frame testId="central-frame" src={src} shapes={centralShapes}
            title={analysis ? t("event.central", { model: analysis.model, tracks: analysis.tracks.length }) : t("event.centralNone")}
            alt={t("events.thumbnail", { camera: edge.camera })} />
        </div>
        <p className="muted legend">
          <span className="key key--edge" />{t("legend.edge")}
          <span className="key key--matched" />{t("legend.matched")}
          <span className="key key--missed" />{t("legend.missed")}
          <span className="key key--other" />{t("legend.other")}
        </p>
        {!src && <p className="muted">{t("event.noThumbnail")}</p>}
      </Section>
      <Section title={t("event.clip")}>
        {edge.has_clip ? <ClipPlayer deviceId={deviceId} eventId={eventId} /> : <p className="muted">{t("event.noClip")}</p>}
      </Section>
      {analysis && analysis.events.length > 0 && (
        <Section title={t("event.centralEvents")}>
          <CentralEvents events={analysis.events} clipStart={analysis.clip_start} />
        </Section>
      )}
      <Section title={t("event.jobs")}>
        <JobsTable jobs={data.jobs} />
      </Section>
    </main>
  );
}

function VerdictLine({ data, open }: { data: EventReanalysis; open: Job | null }) {
  const { verdict, analysis } = data;
  if (verdict === null) {
    const text = open ? t("verdict.waiting", { state: t(`job.${open.state}`) })
      : analysis ? t("verdict.notJudged") : t("verdict.none");
    return <p data-testid="verdict" data-verdict="none">{text}</p>;
  }
  const text = verdict.verdict === "label_differs"
    ? t("verdict.label_differs", { label: verdict.central_label ?? "?" })
    : t(`verdict.${verdict.verdict}`);
  return (
    <div data-testid="verdict" data-verdict={verdict.verdict}>
      <p>
        <span className={`badge badge--${verdict.verdict}`}>{text}</span>{" "}
        {t("verdict.agreement", { share: formatShare(verdict.agreement) })}
      </p>
      {analysis && (
        <p className="muted">
          {t("verdict.analysis", {
            model: analysis.model, frames: analysis.frames, duration: formatDuration(analysis.duration_s),
            worker: analysis.worker, when: formatAgo(analysis.finished_at),
          })}
        </p>
      )}
    </div>
  );
}

function ClipPlayer({ deviceId, eventId }: { deviceId: string; eventId: string }) {
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const play = () => {
    setError(null);
    api.clip(deviceId, eventId).then((answer) => setUrl(answer.url), (failure: unknown) => setError(errorText(failure)));
  };
  return (
    <div className="clip">
      {url ? (
        // the link expires after a few minutes: a failure to load asks for a new one
        <video data-testid="event-clip" src={url} controls autoPlay muted playsInline onError={() => setUrl(null)} />
      ) : (
        <button data-testid="clip-play" onClick={play}>{t("event.playClip")}</button>
      )}
      {error && <p className="notice notice--error" role="alert">{error}</p>}
    </div>
  );
}

function CentralEvents({ events, clipStart }: { events: CentralEvent[]; clipStart: number | null }) {
  return (
    <div className="scroll">
      <table>
        <thead>
          <tr>
            <th>{t("events.time")}</th><th>{t("events.rule")}</th><th>{t("events.label")}</th><th>{t("event.track")}</th>
            <th>{t("events.score")}</th><th />
          </tr>
        </thead>
        <tbody>
          {events.map((event, i) => {
            const when = event.started_at ?? (clipStart === null ? null : clipStart + event.start);
            return (
              <tr key={i} data-testid="central-event-row" data-missed={event.missed}>
                <td>{when === null ? t("event.clipSeconds", { s: event.start.toFixed(1) }) : formatTime(when)}</td>
                <td>{event.rule}</td><td>{event.label}</td><td>{event.track ?? t("common.none")}</td>
                <td>{formatShare(event.max_score)}</td>
                <td>
                  {event.missed ? <span className="badge badge--missed">{t("kind.missed")}</span>
                    : <span className="badge badge--confirmed">{t("event.matched")}</span>}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function JobsTable({ jobs, showEvent = false }: { jobs: Job[]; showEvent?: boolean }) {
  if (jobs.length === 0) return <p className="muted">{t("jobs.none")}</p>;
  return (
    <div className="scroll">
      <table data-testid="jobs">
        <thead>
          <tr>
            {showEvent && <th>{t("devices.device")}</th>}
            {showEvent && <th>{t("events.camera")}</th>}
            <th>{t("jobs.state")}</th><th>{t("jobs.reason")}</th><th>{t("jobs.created")}</th><th>{t("jobs.finished")}</th>
            <th>{t("jobs.attempts")}</th><th>{t("jobs.error")}</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => (
            <tr key={job.job_id} data-testid="job-row" data-job-id={job.job_id} data-state={job.state}>
              {showEvent && <td><Link to={paths.event(job.device_id, job.event_id)}>{job.device_id}</Link></td>}
              {showEvent && <td>{job.camera}</td>}
              <td><span className={`badge badge--job-${job.state}`}>{t(`job.${job.state}`)}</span></td>
              <td>{job.requested_by ? t("jobs.requestedBy", { user: job.requested_by }) : t(`reason.${job.reason}`)}</td>
              <td title={formatTime(job.created_at)}>{formatAgo(job.created_at)}</td>
              <td>{job.finished_at === null ? t("common.none") : formatAgo(job.finished_at)}</td>
              <td>{job.attempts}</td>
              <td className="error-text">{job.error ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
