// The fleet at a glance: devices (online, last seen, cameras' health), events and alerts per day by site, and
// the events list with filters; live updates from the WebSocket keep all three current.
import { useCallback, useEffect, useRef, useState } from "react";
import {
  api, eventQuery, matches, type DayCount, type Device, type EventFilters, type FleetEvent, type Session,
} from "../api";
import { Bars, lastDays } from "../components/Bars";
import { EventsTable } from "../components/EventsTable";
import { Section } from "../components/Section";
import { errorText } from "../errors";
import { formatAgo, formatBytes, formatTime } from "../format";
import { t } from "../i18n";
import { connectLive, type LiveMessage, type LiveState } from "../live";
import { Link, paths } from "../router";

const COUNT_DAYS = 7;
const DEVICES_EVERY_MS = 60_000; // online is central's judgement (its clock): ask again now and then
const NO_FILTERS: EventFilters = { device: "", site: "", camera: "", label: "", since: "" };

export function FleetPage({ session }: { session: Session }) {
  const [devices, setDevices] = useState<Device[] | null>(null);
  const [counts, setCounts] = useState<DayCount[] | null>(null);
  const [events, setEvents] = useState<FleetEvent[] | null>(null);
  const [nextPage, setNextPage] = useState<number | null>(null);
  const [page, setPage] = useState(0);
  const [filters, setFilters] = useState<EventFilters>(NO_FILTERS);
  const [liveState, setLiveState] = useState<LiveState>("connecting");
  const [error, setError] = useState<string | null>(null);
  const view = useRef({ filters, page });
  view.current = { filters, page };
  const countsTimer = useRef<number | undefined>(undefined);
  const [reloads, setReloads] = useState(0); // bumped to load the events again
  const connectedBefore = useRef(false);

  const loadDevices = useCallback(() => {
    api.devices().then((answer) => setDevices(answer.devices), (failure: unknown) => setError(errorText(failure)));
  }, []);
  const loadCounts = useCallback(() => {
    api.counts(COUNT_DAYS).then((answer) => setCounts(answer.counts), (failure: unknown) => setError(errorText(failure)));
  }, []);

  useEffect(() => {
    loadDevices();
    loadCounts();
    const timer = window.setInterval(loadDevices, DEVICES_EVERY_MS);
    return () => window.clearInterval(timer);
  }, [loadDevices, loadCounts]);

  useEffect(() => {
    let current = true; // a slower answer to an older query must not replace a newer one
    api.events(eventQuery(filters, page)).then((answer) => {
      if (!current) return;
      setEvents(answer.events);
      setNextPage(answer.next_page);
    }, (failure: unknown) => current && setError(errorText(failure)));
    return () => {
      current = false;
    };
  }, [filters, page, reloads]);

  const onLive = useCallback((message: LiveMessage) => {
    if (message.type === "hello") {
      if (connectedBefore.current) { // reconnected: what came while the socket was down is not pushed again
        loadDevices();
        loadCounts();
        setReloads((n) => n + 1);
      }
      connectedBefore.current = true;
    } else if (message.type === "device") {
      const changed = message.device;
      setDevices((list) => list && (list.some((d) => d.device_id === changed.device_id)
        ? list.map((d) => (d.device_id === changed.device_id ? changed : d))
        : [...list, changed].sort((a, b) => a.device_id.localeCompare(b.device_id))));
    } else if (message.type === "events") {
      const { filters: shown, page: at } = view.current;
      const fresh = message.events.filter((e) => matches(e, shown));
      if (at === 0 && fresh.length > 0) {
        setEvents((list) => {
          const keys = new Set(fresh.map((e) => `${e.device_id}/${e.id}`));
          const merged = [...fresh, ...(list ?? []).filter((e) => !keys.has(`${e.device_id}/${e.id}`))];
          return merged.sort((a, b) => b.started_at - a.started_at).slice(0, 50);
        });
      }
      window.clearTimeout(countsTimer.current);
      countsTimer.current = window.setTimeout(loadCounts, 2000); // one reload for a burst of batches
    }
  }, [loadDevices, loadCounts]);

  useEffect(() => {
    const stop = connectLive(onLive, setLiveState);
    return () => {
      stop();
      window.clearTimeout(countsTimer.current);
    };
  }, [onLive]);

  const changeFilters = (change: Partial<EventFilters>) => {
    setFilters((old) => ({ ...old, ...change }));
    setPage(0);
  };
  const sites = [...new Set((devices ?? []).map((d) => d.site).filter((s): s is string => s !== null))].sort();
  const canEdit = session.role === "operator" || session.role === "admin";

  return (
    <main className="page">
      <div className="page__head">
        <h1>{t("fleet.title")}</h1>
        <span className={`live live--${liveState}`} data-testid="live-status" data-state={liveState}>
          {t(`live.${liveState}`)}
        </span>
      </div>
      {error && <p className="notice notice--error" role="alert">{error}</p>}
      <Section title={t("devices.title")}>
        {devices === null ? <p className="muted">{t("common.loading")}</p> : (
          <DevicesTable devices={devices} canEdit={canEdit}
            onError={(failure) => setError(errorText(failure))} onSaved={loadDevices} />
        )}
      </Section>
      <Section title={t("counts.title")}>
        {counts === null ? <p className="muted">{t("common.loading")}</p> : (
          <>
            <SiteCharts counts={counts} />
            <CountsTable counts={counts} />
          </>
        )}
      </Section>
      <Section title={t("events.title")}>
        <Filters filters={filters} devices={devices ?? []} sites={sites} onChange={changeFilters} />
        {events === null ? <p className="muted">{t("common.loading")}</p> : <EventsTable events={events} />}
        <nav className="pager">
          <button data-testid="events-newer" disabled={page === 0} onClick={() => setPage(page - 1)}>
            {t("events.newer")}
          </button>
          <span>{t("events.page", { n: page + 1 })}</span>
          <button data-testid="events-older" disabled={nextPage === null} onClick={() => nextPage !== null && setPage(nextPage)}>
            {t("events.older")}
          </button>
        </nav>
      </Section>
    </main>
  );
}

/** A value of the device's latest metrics roll-up, shown with `format` (a dash when the device sent none). */
export function metric(device: Device, name: string, format: (value: number) => string = String): string {
  const value = device.metrics?.[name];
  if (value === undefined || value === null) return t("common.none");
  return typeof value === "number" ? format(value) : String(value);
}

function DevicesTable(props: {
  devices: Device[]; canEdit: boolean;
  onError: (failure: unknown) => void; onSaved: () => void;
}) {
  const { devices, canEdit } = props;
  const [editing, setEditing] = useState<string | null>(null);
  const [site, setSite] = useState("");
  if (devices.length === 0) return <p className="muted">{t("devices.none")}</p>;
  const save = (deviceId: string) => {
    api.setSite(deviceId, site).then(() => {
      setEditing(null);
      props.onSaved();
    }, props.onError);
  };
  return (
    <div className="scroll">
      <table data-testid="devices">
        <thead>
          <tr>
            <th>{t("devices.device")}</th><th>{t("devices.site")}</th><th>{t("devices.status")}</th>
            <th>{t("devices.lastSeen")}</th><th>{t("devices.version")}</th><th>{t("devices.model")}</th><th>{t("devices.backlog")}</th>
            <th>{t("devices.disk")}</th><th>{t("devices.cameras")}</th>
          </tr>
        </thead>
        <tbody>
          {devices.map((device) => {
            const status = device.revoked_at !== null ? "revoked" : device.online ? "online" : "offline";
            return (
              <tr key={device.device_id} data-testid="device-row" data-device-id={device.device_id} data-status={status}>
                <td><Link to={paths.device(device.device_id)} testId="device-open">{device.device_id}</Link></td>
                <td>
                  {editing === device.device_id ? (
                    <form className="inline" onSubmit={(e) => { e.preventDefault(); save(device.device_id); }}>
                      <input data-testid="site-input" value={site} maxLength={64} required onChange={(e) => setSite(e.target.value)} />
                      <button type="submit">{t("devices.save")}</button>
                      <button type="button" onClick={() => setEditing(null)}>{t("devices.cancel")}</button>
                    </form>
                  ) : (
                    <>
                      {device.site ?? t("common.none")}
                      {canEdit && (
                        <button className="link" data-testid="site-edit"
                          onClick={() => { setEditing(device.device_id); setSite(device.site ?? ""); }}>
                          {t("devices.setSite")}
                        </button>
                      )}
                    </>
                  )}
                </td>
                <td><span className={`badge badge--${status}`}>{t(`devices.${status}`)}</span></td>
                <td title={device.last_seen_at === null ? undefined : formatTime(device.last_seen_at)}>
                  {device.last_seen_at === null ? t("devices.never") : formatAgo(device.last_seen_at)}
                </td>
                <td>{metric(device, "version")}</td>
                <td>{metric(device, "model")}</td>
                <td>{metric(device, "backlog")}</td>
                <td data-testid="device-disk">{metric(device, "disk_free_bytes", formatBytes)}</td>
                <td>
                  {device.cameras.length === 0 ? <span className="muted">{t("devices.noCameras")}</span>
                    : device.cameras.map((camera) => (
                      <span key={camera.camera} className={`camera camera--${camera.state}`} data-testid="camera-health"
                        title={camera.last_error ?? ""}>{camera.camera}: {camera.state}</span>
                    ))}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** Events (alerts in red) per UTC day for each site; a device not in a site stands for itself. */
function SiteCharts({ counts }: { counts: DayCount[] }) {
  const days = lastDays(COUNT_DAYS);
  const bySite = new Map<string, Map<string, { events: number; alerts: number }>>();
  for (const row of counts) {
    const site = row.site ?? t("counts.noSite", { device: row.device_id });
    const perDay = bySite.get(site) ?? new Map<string, { events: number; alerts: number }>();
    const day = perDay.get(row.day) ?? { events: 0, alerts: 0 };
    perDay.set(row.day, { events: day.events + row.events, alerts: day.alerts + row.alerts });
    bySite.set(site, perDay);
  }
  const max = Math.max(0, ...[...bySite.values()].flatMap((perDay) => [...perDay.values()].map((d) => d.events)));
  return (
    <div className="site-charts">
      {[...bySite.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([site, perDay]) => {
        const total = [...perDay.values()].reduce((sum, d) => sum + d.events, 0);
        const alerts = [...perDay.values()].reduce((sum, d) => sum + d.alerts, 0);
        return (
          <div key={site} className="site-chart" data-testid="site-chart" data-site={site} data-events={total}>
            <span className="site-chart__name">{site}</span>
            <Bars testId="site-bars" max={max} values={days.map((day) => {
              const d = perDay.get(day);
              return { key: day, value: d?.events ?? 0, part: d?.alerts ?? 0,
                       title: t("counts.bar", { day, events: d?.events ?? 0, alerts: d?.alerts ?? 0 }) };
            })} />
            <span className="muted">{t("counts.total", { events: total, alerts })}</span>
          </div>
        );
      })}
      <p className="muted">{t("counts.days", { from: days[0] ?? "", to: days[days.length - 1] ?? "" })}</p>
    </div>
  );
}

function CountsTable({ counts }: { counts: DayCount[] }) {
  if (counts.length === 0) return <p className="muted">{t("counts.none", { days: COUNT_DAYS })}</p>;
  return (
    <div className="scroll">
      <table data-testid="counts">
        <thead>
          <tr>
            <th>{t("counts.day")}</th><th>{t("devices.site")}</th><th>{t("devices.device")}</th>
            <th>{t("counts.events")}</th><th>{t("counts.alerts")}</th>
          </tr>
        </thead>
        <tbody>
          {counts.map((row) => (
            <tr key={`${row.day}/${row.device_id}`} data-testid="count-row" data-device-id={row.device_id}
              data-events={row.events}>
              <td>{row.day}</td><td>{row.site ?? t("common.none")}</td><td>{row.device_id}</td>
              <td>{row.events}</td><td>{row.alerts}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Filters(props: {
  filters: EventFilters; devices: Device[]; sites: string[]; onChange: (change: Partial<EventFilters>) => void;
}) {
  const { filters, devices, sites, onChange } = props;
  return (
    <div className="filters">
      <select data-testid="filter-device" value={filters.device} onChange={(e) => onChange({ device: e.target.value })}>
        <option value="">{t("filters.allDevices")}</option>
        {devices.map((d) => <option key={d.device_id} value={d.device_id}>{d.device_id}</option>)}
      </select>
      <select data-testid="filter-site" value={filters.site} onChange={(e) => onChange({ site: e.target.value })}>
        <option value="">{t("filters.allSites")}</option>
        {sites.map((s) => <option key={s} value={s}>{s}</option>)}
      </select>
      <input data-testid="filter-camera" placeholder={t("filters.camera")} aria-label={t("filters.camera")}
        value={filters.camera} maxLength={64} onChange={(e) => onChange({ camera: e.target.value })} />
      <input data-testid="filter-label" placeholder={t("filters.label")} aria-label={t("filters.label")}
        value={filters.label} maxLength={64} onChange={(e) => onChange({ label: e.target.value })} />
      <label>
        {t("filters.since")}
        <input data-testid="filter-since" type="datetime-local" value={filters.since}
          onChange={(e) => onChange({ since: e.target.value })} />
      </label>
      <button data-testid="filter-clear" onClick={() => onChange(NO_FILTERS)}>{t("filters.clear")}</button>
    </div>
  );
}
