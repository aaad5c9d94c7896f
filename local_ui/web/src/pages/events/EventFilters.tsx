import type { VigiaEvent } from "../../api/types";
import { t } from "../../i18n";
import { useCameras } from "../../live/hooks";
import { NO_FILTERS, type Filters } from "./filters";

interface Props {
  filters: Filters;
  /** The events listed, whose labels and zones are offered as suggestions. */
  events: VigiaEvent[];
  onChange(filters: Filters): void;
}

export function EventFilters({ filters, events, onChange }: Props) {
  const cameras = useCameras().map((camera) => camera.name);
  if (filters.camera && !cameras.includes(filters.camera)) cameras.push(filters.camera);
  const set = <K extends keyof Filters>(name: K, value: Filters[K]) => onChange({ ...filters, [name]: value });
  return (
    <form className="filters" onSubmit={(event) => event.preventDefault()}>
      <label>
        {t("filter.camera")}
        <select value={filters.camera} onChange={(event) => set("camera", event.target.value)}>
          <option value="">{t("filter.allCameras")}</option>
          {cameras.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t("filter.label")}
        <input list="filter-labels" value={filters.label} onChange={(event) => set("label", event.target.value)} />
        <Suggestions id="filter-labels" values={events.map((event) => event.label)} />
      </label>
      <label>
        {t("filter.zone")}
        <input list="filter-zones" value={filters.zone} onChange={(event) => set("zone", event.target.value)} />
        <Suggestions id="filter-zones" values={events.map((event) => event.zone)} />
      </label>
      <label>
        {t("filter.from")}
        <input type="datetime-local" value={filters.from} onChange={(event) => set("from", event.target.value)} />
      </label>
      <label>
        {t("filter.to")}
        <input type="datetime-local" value={filters.to} onChange={(event) => set("to", event.target.value)} />
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={filters.alertsOnly}
          onChange={(event) => set("alertsOnly", event.target.checked)}
        />
        {t("filter.alertsOnly")}
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={filters.unacknowledgedOnly}
          onChange={(event) => set("unacknowledgedOnly", event.target.checked)}
        />
        {t("filter.unacknowledgedOnly")}
      </label>
      <button type="button" className="button button--quiet" onClick={() => onChange(NO_FILTERS)}>
        {t("filter.clear")}
      </button>
    </form>
  );
}

function Suggestions({ id, values }: { id: string; values: (string | null)[] }) {
  const unique = [...new Set(values.filter((value): value is string => Boolean(value)))].sort();
  return (
    <datalist id={id}>
      {unique.map((value) => (
        <option key={value} value={value} />
      ))}
    </datalist>
  );
}
