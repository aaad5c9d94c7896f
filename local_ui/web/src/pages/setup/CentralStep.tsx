import { useState } from "react";
import { api } from "../../api/client";
import { t } from "../../i18n";
import { errorMessage } from "../../lib/errors";

interface Props {
  enrolled: boolean;
  timeZone: string;
  onFinished(): void;
}

/** Enrol with central (URL, one-time token, its CA certificate) or stay offline; then finish setup. */
export function CentralStep({ enrolled, timeZone, onFinished }: Props) {
  const [online, setOnline] = useState(false);
  const [url, setUrl] = useState("");
  const [token, setToken] = useState("");
  const [caPem, setCaPem] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function finish() {
    setBusy(true);
    setError(null);
    try {
      if (online) await api.enrol(url, token, caPem);
      await api.finishSetup(timeZone);
      onFinished();
    } catch (failure) {
      setError(errorMessage(failure));
      setBusy(false);
    }
  }

  return (
    <div className="setup-form">
      <h1>{t("setup.central.title")}</h1>
      {enrolled && <p className="muted">{t("setup.central.enrolled")}</p>}
      <label className="setup-check">
        <input data-testid="setup-offline" type="radio" name="central" checked={!online} onChange={() => setOnline(false)} />
        {t("setup.central.offline")}
      </label>
      <label className="setup-check">
        <input data-testid="setup-online" type="radio" name="central" checked={online} onChange={() => setOnline(true)} />
        {t("setup.central.enrol")}
      </label>
      {online && (
        <>
          <label>
            {t("setup.central.url")}
            <input data-testid="setup-central-url" placeholder="https://central.example.com" value={url} onChange={(e) => setUrl(e.target.value)} />
          </label>
          <label>
            {t("setup.central.token")}
            <input data-testid="setup-central-token" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} />
          </label>
          <label>
            {t("setup.central.ca")}
            <textarea data-testid="setup-central-ca" rows={4} value={caPem} onChange={(e) => setCaPem(e.target.value)} />
          </label>
        </>
      )}
      <div className="setup-buttons">
        <button data-testid="setup-finish" type="button" className="button button--primary" disabled={busy} onClick={() => void finish()}>
          {t("setup.central.finish")}
        </button>
      </div>
      {error && (
        <p data-testid="setup-error" className="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
