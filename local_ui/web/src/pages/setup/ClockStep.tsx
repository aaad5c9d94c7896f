import { useEffect, useState } from "react";
import { api } from "../../api/client";
import { t } from "../../i18n";
import { errorMessage } from "../../lib/errors";
import { formatTime } from "../../lib/format";

/** How far apart the appliance's and the browser's clocks may be before the wizard warns (seconds). */
const CLOCK_TOLERANCE_S = 60;

interface Clocks {
  /** The appliance's clock (epoch seconds) when it answered. */
  server: number;
  /** Seconds the appliance's clock is ahead of this browser's (the request's round trip halved). */
  offset: number;
}

interface Props {
  timeZone: string;
  onTimeZone(zone: string): void;
  onNext(): void;
}

/** The site's time zone, and the appliance's clock against this browser's. */
export function ClockStep({ timeZone, onTimeZone, onNext }: Props) {
  const [clocks, setClocks] = useState<Clocks | null>(null);
  const [error, setError] = useState<string | null>(null);
  const zones = Intl.supportedValuesOf("timeZone");

  useEffect(() => {
    const sent = Date.now() / 1000;
    api.setup().then(
      (setup) => setClocks({ server: setup.server_time, offset: Math.round(setup.server_time - (sent + Date.now() / 1000) / 2) }),
      (failure: unknown) => setError(errorMessage(failure)),
    );
  }, []);

  return (
    <div className="setup-form">
      <h1>{t("setup.clock.title")}</h1>
      {error && <p className="error">{error}</p>}
      {clocks && (
        <p>
          {t("setup.clock.device", { time: formatTime(clocks.server) })}{" "}
          <span data-testid="setup-clock-offset" data-offset={clocks.offset} className="muted">
            ({t("setup.clock.offset", { n: clocks.offset })})
          </span>
        </p>
      )}
      {clocks && Math.abs(clocks.offset) > CLOCK_TOLERANCE_S && (
        <p data-testid="setup-clock-warning" className="error" role="alert">
          {t("setup.clock.warning", { n: Math.abs(clocks.offset) })}
        </p>
      )}
      <label>
        {t("setup.clock.zone")}
        <input
          data-testid="setup-timezone"
          list="setup-time-zones"
          required
          value={timeZone}
          onChange={(event) => onTimeZone(event.target.value)}
        />
        <datalist id="setup-time-zones">
          {zones.map((zone) => (
            <option key={zone} value={zone} />
          ))}
        </datalist>
      </label>
      <div className="setup-buttons">
        <button data-testid="setup-clock-next" type="button" className="button button--primary" disabled={!timeZone} onClick={onNext}>
          {t("setup.next")}
        </button>
      </div>
    </div>
  );
}
