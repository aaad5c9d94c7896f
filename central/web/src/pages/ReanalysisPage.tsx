// Central's re-analysis: the job queue (by state, the oldest waiting, failures with their error), per camera
// false-alarm and missed rates per day, and the disagreements between the edge and central, filtered.
import { useCallback, useEffect, useState } from "react";
import {
  api, disagreementQuery, type CameraRate, type Device, type Disagreement, type DisagreementFilters, type JobQueue,
} from "../api";
import { Bars, lastDays } from "../components/Bars";
import { Section } from "../components/Section";
import { errorText } from "../errors";
import { formatDuration, formatShare, formatTime } from "../format";
import { t } from "../i18n";
import { Link, navigate, paths } from "../router";
import { JobsTable } from "./EventPage";

const NO_FILTERS: DisagreementFilters = { device: "", site: "", camera: "", label: "", kind: "" };
const KINDS: Disagreement["kind"][] = ["not_confirmed", "label_differs", "missed"];
const RATE_DAYS = [7, 14, 30];
const QUEUE_EVERY_MS = 15_000;
const STATES: (keyof JobQueue["by_state"])[] = ["waiting_clip", "ready", "queued", "done", "failed"];

export function ReanalysisPage() {
  const [error, setError] = useState<string | null>(null);
  const onError = useCallback((failure: unknown) => setError(errorText(failure)), []);
  return (
    <main className="page" data-testid="reanalysis-page">
      <div className="page__head"><h1>{t("reanalysis.title")}</h1></div>
      {error && <p className="notice notice--error" role="alert">{error}</p>}
      <QueuePanel onError={onError} />
      <RatesPanel onError={onError} />
      <DisagreementsPanel onError={onError} />
    </main>
  );
}

function QueuePanel({ onError }: { onError: (failure: unknown) => void }) {
  const [queue, setQueue] = useState<JobQueue | null>(null);
  useEffect(() => {
    const load = () => api.queue().then(setQueue, onError);
    load();
    const timer = window.setInterval(load, QUEUE_EVERY_MS);
    return () => window.clearInterval(timer);
  }, [onError]);
  return (
    <Section title={t("queue.title")} testId="queue">
      {queue === null ? <p className="muted">{t("common.loading")}</p> : (
        <>
          <div className="tiles">
            {STATES.map((state) => (
              <div key={state} className={`tile tile--${state}`} data-testid="queue-state" data-state={state}
                data-count={queue.by_state[state]}>
                <span className="tile__value">{queue.by_state[state]}</span>
                <span className="tile__label">{t(`job.${state}`)}</span>
              </div>
            ))}
            <div className="tile" data-testid="queue-oldest">
              <span className="tile__value">
                {queue.oldest_open_s === null ? t("common.none") : formatDuration(queue.oldest_open_s)}
              </span>
              <span className="tile__label">{t("queue.oldest")}</span>
            </div>
          </div>
          {queue.oldest_open.length > 0 && (
            <>
              <h3>{t("queue.waiting")}</h3>
              <JobsTable jobs={queue.oldest_open} showEvent />
            </>
          )}
          <h3>{t("queue.failed")}</h3>
          <div data-testid="queue-failed"><JobsTable jobs={queue.failed} showEvent /></div>
        </>
      )}
    </Section>
  );
}

interface CameraRates {
  key: string;
  device_id: string;
  site: string | null;
  camera: string;
  rows: Map<string, CameraRate>;
  verdicts: number;
  confirmed: number;
  notConfirmed: number;
  missed: number;
}

function byCamera(rates: CameraRate[]): CameraRates[] {
  const cameras = new Map<string, CameraRates>();
  for (const row of rates) {
    const key = `${row.device_id}/${row.camera}`;
    const found = cameras.get(key) ?? { key, device_id: row.device_id, site: row.site, camera: row.camera, rows: new Map(),
                                        verdicts: 0, confirmed: 0, notConfirmed: 0, missed: 0 };
    found.rows.set(row.day, row);
    found.verdicts += row.verdicts;
    found.confirmed += row.confirmed;
    found.notConfirmed += row.not_confirmed;
    found.missed += row.missed;
    cameras.set(key, found);
  }
  return [...cameras.values()].sort((a, b) => a.key.localeCompare(b.key));
}

const share = (part: number, whole: number) => (whole > 0 ? part / whole : null);

function RatesPanel({ onError }: { onError: (failure: unknown) => void }) {
  const [days, setDays] = useState(14);
  const [rates, setRates] = useState<CameraRate[] | null>(null);
  useEffect(() => {
    api.rates(days).then((answer) => setRates(answer.rates), onError);
  }, [days, onError]);
  const dayList = lastDays(days);
  return (
    <Section title={t("rates.title")} testId="rates">
      <div className="filters">
        <label>
          {t("rates.window")}
          <select data-testid="rates-days" value={days} onChange={(e) => setDays(Number(e.target.value))}>
            {RATE_DAYS.map((n) => <option key={n} value={n}>{t("rates.days", { n })}</option>)}
          </select>
        </label>
      </div>
      {rates === null ? <p className="muted">{t("common.loading")}</p> : rates.length === 0 ? (
        <p className="muted">{t("rates.none")}</p>
      ) : (
        <div className="scroll">
          <table>
            <thead>
              <tr>
                <th>{t("devices.device")}</th><th>{t("devices.site")}</th><th>{t("events.camera")}</th>
                <th>{t("rates.verdicts")}</th><th>{t("rates.falseAlarms")}</th><th>{t("rates.perDay")}</th>
                <th>{t("rates.missed")}</th><th>{t("rates.perDay")}</th>
              </tr>
            </thead>
            <tbody>
              {byCamera(rates).map((camera) => (
                <tr key={camera.key} data-testid="rate-row" data-device-id={camera.device_id} data-camera={camera.camera}
                  data-false-alarm-rate={share(camera.notConfirmed, camera.verdicts) ?? ""}
                  data-missed-rate={share(camera.missed, camera.confirmed + camera.missed) ?? ""}>
                  <td><Link to={paths.device(camera.device_id)}>{camera.device_id}</Link></td>
                  <td>{camera.site ?? t("common.none")}</td>
                  <td>{camera.camera}</td>
                  <td>{camera.verdicts}</td>
                  <td>{formatShare(share(camera.notConfirmed, camera.verdicts))}</td>
                  <td>
                    <Bars testId="false-alarm-bars" max={1} values={dayList.map((day) => {
                      const row = camera.rows.get(day);
                      return { key: day, value: row?.false_alarm_rate ?? null,
                               title: `${day}: ${formatShare(row?.false_alarm_rate)} (${row?.not_confirmed ?? 0}/${row?.verdicts ?? 0})` };
                    })} />
                  </td>
                  <td>{formatShare(share(camera.missed, camera.confirmed + camera.missed))}</td>
                  <td>
                    <Bars testId="missed-bars" max={1} values={dayList.map((day) => {
                      const row = camera.rows.get(day);
                      return { key: day, value: row?.missed_rate ?? null,
                               title: `${day}: ${formatShare(row?.missed_rate)} (${row?.missed ?? 0}/${(row?.confirmed ?? 0) + (row?.missed ?? 0)})` };
                    })} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

function DisagreementsPanel({ onError }: { onError: (failure: unknown) => void }) {
  const [filters, setFilters] = useState<DisagreementFilters>(NO_FILTERS);
  const [page, setPage] = useState(0);
  const [rows, setRows] = useState<Disagreement[] | null>(null);
  const [nextPage, setNextPage] = useState<number | null>(null);
  const [devices, setDevices] = useState<Device[]>([]);
  useEffect(() => {
    api.devices().then((answer) => setDevices(answer.devices), onError);
  }, [onError]);
  useEffect(() => {
    let current = true;
    api.disagreements(disagreementQuery(filters, page)).then((answer) => {
      if (!current) return;
      setRows(answer.disagreements);
      setNextPage(answer.next_page);
    }, (failure: unknown) => current && onError(failure));
    return () => {
      current = false;
    };
  }, [filters, page, onError]);
  const change = (update: Partial<DisagreementFilters>) => {
    setFilters((old) => ({ ...old, ...update }));
    setPage(0);
  };
  const sites = [...new Set(devices.map((d) => d.site).filter((s): s is string => s !== null))].sort();
  return (
    <Section title={t("disagreements.title")} testId="disagreements">
      <div className="filters">
        <select data-testid="dis-device" value={filters.device} onChange={(e) => change({ device: e.target.value })}>
          <option value="">{t("filters.allDevices")}</option>
          {devices.map((d) => <option key={d.device_id} value={d.device_id}>{d.device_id}</option>)}
        </select>
        <select data-testid="dis-site" value={filters.site} onChange={(e) => change({ site: e.target.value })}>
          <option value="">{t("filters.allSites")}</option>
          {sites.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
        <input data-testid="dis-camera" placeholder={t("filters.camera")} aria-label={t("filters.camera")}
          value={filters.camera} maxLength={64} onChange={(e) => change({ camera: e.target.value })} />
        <input data-testid="dis-label" placeholder={t("filters.label")} aria-label={t("filters.label")}
          value={filters.label} maxLength={64} onChange={(e) => change({ label: e.target.value })} />
        <select data-testid="dis-kind" value={filters.kind}
          onChange={(e) => change({ kind: e.target.value as DisagreementFilters["kind"] })}>
          <option value="">{t("disagreements.allKinds")}</option>
          {KINDS.map((kind) => <option key={kind} value={kind}>{t(`kind.${kind}`)}</option>)}
        </select>
        <button data-testid="dis-clear" onClick={() => change(NO_FILTERS)}>{t("filters.clear")}</button>
      </div>
      {rows === null ? <p className="muted">{t("common.loading")}</p> : rows.length === 0 ? (
        <p className="muted">{t("disagreements.none")}</p>
      ) : (
        <div className="scroll">
          <table>
            <thead>
              <tr>
                <th>{t("events.time")}</th><th>{t("disagreements.kind")}</th><th>{t("devices.device")}</th>
                <th>{t("devices.site")}</th><th>{t("events.camera")}</th><th>{t("events.rule")}</th>
                <th>{t("disagreements.edge")}</th><th>{t("disagreements.central")}</th><th>{t("disagreements.measure")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={`${row.kind}/${row.job_id}/${row.event_id}/${row.started_at}`} className="clickable"
                  data-testid="disagreement-row" data-kind={row.kind} data-device-id={row.device_id} data-event-id={row.event_id}
                  onClick={() => navigate(paths.event(row.device_id, row.event_id))}>
                  <td><Link to={paths.event(row.device_id, row.event_id)}>{formatTime(row.started_at)}</Link></td>
                  <td><span className={`badge badge--${row.kind}`}>{t(`kind.${row.kind}`)}</span></td>
                  <td>{row.device_id}</td><td>{row.site ?? t("common.none")}</td><td>{row.camera}</td><td>{row.rule}</td>
                  <td>{row.edge_label ?? t("common.none")}</td><td>{row.central_label ?? t("common.none")}</td>
                  <td>
                    {row.kind === "missed" ? t("disagreements.score", { share: formatShare(row.max_score) })
                      : t("disagreements.agreement", { share: formatShare(row.agreement) })}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav className="pager">
        <button disabled={page === 0} onClick={() => setPage(page - 1)}>{t("events.newer")}</button>
        <span>{t("events.page", { n: page + 1 })}</span>
        <button disabled={nextPage === null} onClick={() => nextPage !== null && setPage(nextPage)}>{t("events.older")}</button>
      </nav>
    </Section>
  );
}
