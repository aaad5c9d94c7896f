// One device: its state now (version, model, backlog, disk, cameras), its cameras' health and its backlog and
// disk over the last days (from the hourly metrics roll-ups), its cameras' layouts, the commands central sent it
// and what it answered, and its latest events.
import { useEffect, useState } from "react";
import { api, type Command, type DeviceDetail, type FleetEvent, type MetricsRollup } from "../api";
import { TimeBars, type PeriodValue } from "../components/Bars";
import { EventsTable } from "../components/EventsTable";
import { Section } from "../components/Section";
import { errorText } from "../errors";
import { formatAgo, formatBytes, formatDuration, formatNumber, formatTime } from "../format";
import { t } from "../i18n";
import { metric } from "./FleetPage";

const HISTORY_DAYS = [1, 7, 31];

export function DevicePage({ deviceId }: { deviceId: string }) {
  const [days, setDays] = useState(7);
  const [detail, setDetail] = useState<DeviceDetail | null>(null);
  const [events, setEvents] = useState<FleetEvent[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.device(deviceId, days).then(setDetail, (failure: unknown) => setError(errorText(failure)));
  }, [deviceId, days]);
  useEffect(() => {
    api.events(new URLSearchParams({ device: deviceId })).then((answer) => setEvents(answer.events),
      (failure: unknown) => setError(errorText(failure)));
  }, [deviceId]);

  if (detail === null) {
    return <main className="page">{error ? <p className="notice notice--error" role="alert">{error}</p> : <p className="muted">{t("common.loading")}</p>}</main>;
  }
  const { device, metrics } = detail;
  const status = device.revoked_at !== null ? "revoked" : device.online ? "online" : "offline";
  const uptime = device.metrics?.["uptime_s"];
  return (
    <main className="page" data-testid="device-page" data-device-id={device.device_id}>
      <div className="page__head">
        <h1>{device.device_id}</h1>
        <span className={`badge badge--${status}`}>{t(`devices.${status}`)}</span>
        <span className="muted">{device.site ?? t("devices.noSite")}</span>
      </div>
      {error && <p className="notice notice--error" role="alert">{error}</p>}
      <Section title={t("device.now")}>
        <dl className="facts" data-testid="device-facts">
          <dt>{t("devices.lastSeen")}</dt>
          <dd title={device.last_seen_at === null ? undefined : formatTime(device.last_seen_at)}>
            {device.last_seen_at === null ? t("devices.never") : formatAgo(device.last_seen_at)}
          </dd>
          <dt>{t("devices.version")}</dt><dd>{metric(device, "version")}</dd>
          <dt>{t("devices.model")}</dt><dd data-testid="device-model">{metric(device, "model")}</dd>
          <dt>{t("devices.backlog")}</dt><dd>{metric(device, "backlog", (n) => t("device.records", { n }))}</dd>
          <dt>{t("devices.disk")}</dt><dd data-testid="device-disk">{metric(device, "disk_free_bytes", formatBytes)}</dd>
          <dt>{t("device.uptime")}</dt><dd>{typeof uptime === "number" ? formatDuration(uptime) : t("common.none")}</dd>
          <dt>{t("device.enrolled")}</dt><dd>{device.enrolled_at === null ? t("common.none") : formatTime(device.enrolled_at)}</dd>
          <dt>{t("device.identity")}</dt><dd><code>{device.short_id ?? t("common.none")}</code></dd>
        </dl>
        <ul className="camera-list">
          {device.cameras.length === 0 ? <li className="muted">{t("devices.noCameras")}</li> : device.cameras.map((camera) => (
            <li key={camera.camera} data-testid="camera-now" data-camera={camera.camera} data-state={camera.state}>
              <span className={`camera camera--${camera.state}`}>{camera.camera}: {camera.state}</span>
              <span className="muted">{t("device.since", { when: formatAgo(camera.since) })}</span>
              {camera.last_error && <span className="error-text">{camera.last_error}</span>}
            </li>
          ))}
        </ul>
      </Section>
      <Section title={t("device.history")} testId="device-history">
        <div className="filters">
          <label>
            {t("rates.window")}
            <select data-testid="history-days" value={days} onChange={(e) => setDays(Number(e.target.value))}>
              {HISTORY_DAYS.map((n) => <option key={n} value={n}>{t("rates.days", { n })}</option>)}
            </select>
          </label>
        </div>
        {metrics.length === 0 ? <p className="muted">{t("device.noHistory")}</p> : <History metrics={metrics} days={detail.days} />}
      </Section>
      <Section title={t("device.layouts")}>
        {detail.layouts.length === 0 ? <p className="muted">{t("device.noLayouts")}</p> : (
          <table>
            <thead>
              <tr><th>{t("events.camera")}</th><th>{t("device.zones")}</th><th>{t("device.lines")}</th><th>{t("device.rules")}</th><th>{t("device.classes")}</th></tr>
            </thead>
            <tbody>
              {detail.layouts.map((layout) => (
                <tr key={String(layout["camera"])} data-testid="layout-row">
                  <td>{String(layout["camera"])}</td>
                  <td>{names(layout["zones"])}</td><td>{names(layout["lines"])}</td><td>{names(layout["rules"])}</td>
                  <td>{Array.isArray(layout["classes"]) ? layout["classes"].join(", ") : t("common.none")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title={t("device.commands")}>
        <CommandsTable commands={detail.commands} />
      </Section>
      <Section title={t("device.events")}>
        {events === null ? <p className="muted">{t("common.loading")}</p> : <EventsTable events={events} />}
      </Section>
    </main>
  );
}

/** The names of a layout's zones, lines or rules. */
function names(items: unknown): string {
  if (!Array.isArray(items) || items.length === 0) return t("common.none");
  return items.map((item: unknown) => (item && typeof item === "object" && "name" in item ? String(item.name) : "?")).join(", ");
}

const periodTitle = (m: MetricsRollup) => `${m.period_start ? formatTime(m.period_start) : ""} – ${formatTime(m.period_end)}`;

function History({ metrics, days }: { metrics: MetricsRollup[]; days: number }) {
  const to = Date.now() / 1000;
  const from = to - days * 86400;
  const cameras = [...new Set(metrics.flatMap((m) => Object.keys(m.cameras ?? {})))].sort();
  const rate = (m: MetricsRollup, count: number) => {
    const seconds = m.period_start ? m.period_end - m.period_start : 0;
    return seconds > 0 ? count / seconds : 0;
  };
  const fpsMax = Math.max(0, ...metrics.flatMap((m) => Object.values(m.cameras ?? {}).map((c) => rate(m, c.frames_in))));
  const backlogMax = Math.max(0, ...metrics.map((m) => m.backlog ?? 0));
  const diskMax = Math.max(0, ...metrics.map((m) => m.disk_free_bytes ?? 0));
  const series = (value: (m: MetricsRollup) => number | null, title: (m: MetricsRollup) => string,
                  part?: (m: MetricsRollup) => number): PeriodValue[] =>
    metrics.map((m) => ({ key: String(m.period_end), start: Math.min(m.period_start ?? m.period_end, m.period_end), end: m.period_end,
                          value: value(m), part: part?.(m), title: `${periodTitle(m)}: ${title(m)}` }));
  const row = (name: string, testId: string, camera: string | undefined, values: PeriodValue[], max: number) => (
    <div key={name} className="history__row" data-testid={testId} data-camera={camera}>
      <span className="history__name">{name}</span>
      <TimeBars testId="time-bars" from={from} to={to} max={max} values={values} />
    </div>
  );
  return (
    <div className="history">
      <p className="muted">{t("device.historyHelp")}</p>
      {cameras.map((camera) => row(camera, "camera-history", camera, series(
        (m) => {
          const c = m.cameras?.[camera];
          return c ? rate(m, c.frames_in) : null;
        },
        (m) => {
          const c = m.cameras?.[camera];
          return c ? t("device.cameraPeriod", {
            fps: formatNumber(rate(m, c.frames_in)), analysed: formatNumber(rate(m, c.frames_analysed)),
            dropped: c.frames_dropped, events: c.events }) : t("device.noReport");
        },
        (m) => rate(m, m.cameras?.[camera]?.frames_dropped ?? 0),
      ), fpsMax))}
      {row(t("devices.backlog"), "backlog-history", undefined,
           series((m) => m.backlog ?? null, (m) => t("device.records", { n: m.backlog ?? 0 })), backlogMax)}
      {row(t("devices.disk"), "disk-history", undefined, series((m) => m.disk_free_bytes ?? null,
           (m) => (m.disk_free_bytes === undefined ? t("common.none") : formatBytes(m.disk_free_bytes))), diskMax)}
      <div className="history__row history__axis">
        <span />
        <span className="axis"><span>{formatTime(from)}</span><span>{formatTime(to)}</span></span>
      </div>
    </div>
  );
}

const compact = (value: unknown) => (value === null || value === undefined ? "" : JSON.stringify(value));

function CommandsTable({ commands }: { commands: Command[] }) {
  if (commands.length === 0) return <p className="muted">{t("device.noCommands")}</p>;
  return (
    <div className="scroll">
      <table data-testid="commands">
        <thead>
          <tr>
            <th>{t("device.sent")}</th><th>{t("device.command")}</th><th>{t("device.by")}</th><th>{t("jobs.state")}</th>
            <th>{t("device.answered")}</th><th>{t("device.result")}</th>
          </tr>
        </thead>
        <tbody>
          {commands.map((command) => (
            <tr key={command.id} data-testid="command-row" data-kind={command.kind} data-state={command.state}>
              <td title={formatTime(command.created_at)}>{formatAgo(command.created_at)}</td>
              <td><code>{command.kind}</code> <span className="muted">{compact(command.body)}</span></td>
              <td>{command.created_by}</td>
              <td><span className={`badge badge--command-${command.state}`}>{t(`command.${command.state}`)}</span></td>
              <td>{command.acked_at === null ? t("common.none") : formatAgo(command.acked_at)}</td>
              <td className="wrap"><code>{compact(command.result)}</code></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
