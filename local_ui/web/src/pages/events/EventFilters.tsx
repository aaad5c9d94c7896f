import { useEffect, useState } from "react";
import { api } from "../../api/client";
import type { EventFacets } from "../../api/types";
import { t } from "../../i18n";
import { useCameras } from "../../live/hooks";
import { NO_FILTERS, type Filters } from "./filters";

interface Props {
  filters: Filters;
  onChange(filters: Filters): void;
}

/** The labels and zones the appliance offers (the detector's classes, the cameras' zones and lines, what stored
 * events name), loaded once per visit of the page. */
function useFacets(): EventFacets | null {
  const [facets, setFacets] = useState<EventFacets | null>(null);
  useEffect(() => {
    let current = true;
    api.eventFacets().then(
      (loaded) => current && setFacets(loaded),
      (failure: unknown) => console.warn("event filters: no suggestions", failure),
    );
    return () => {
      current = false;
    };
  }, []);
  return facets;
}

export function EventFilters({ filters, onChange }: Props) {
  const cameras = useCameras().map((camera) => camera.name);
  if (filters.camera && !cameras.includes(filters.camera)) cameras.push(filters.camera);
  const facets = useFacets();
  const scope = (filters.camera && facets?.cameras[filters.camera]) || facets;
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
      <Choice
        testId="filter-label"
        label={t("filter.label")}
        all={t("filter.allLabels")}
        value={filters.label}
        values={scope?.labels ?? []}
        onChange={(value) => set("label", value)}
      />
      <Choice
        testId="filter-zone"
        label={t("filter.zone")}
        all={t("filter.allZones")}
        value={filters.zone}
        values={scope?.zones ?? []}
        onChange={(value) => set("zone", value)}
      />
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

interface ChoiceProps {
  testId: string;
  label: string;
  all: string;
  value: string;
  values: string[];
  onChange(value: string): void;
}

/** A filter among the values that exist; one chosen before (a link, a camera changed) stays offered. */
function Choice({ testId, label, all, value, values, onChange }: ChoiceProps) {
  const offered = value && !values.includes(value) ? [...values, value].sort() : values;
  return (
    <label>
      {label}
      <select data-testid={testId} value={value} onChange={(event) => onChange(event.target.value)}>
        <option value="">{all}</option>
        {offered.map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
}
