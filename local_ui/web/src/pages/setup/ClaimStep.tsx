import { useState, type FormEvent } from "react";
import { api, ApiError } from "../../api/client";
import type { Session } from "../../api/types";
import { t } from "../../i18n";
import { errorMessage } from "../../lib/errors";

/** Claim the device with the code `vigia status` shows, and create the first admin. */
export function ClaimStep({ device, onClaimed }: { device: string; onClaimed(session: Session): void }) {
  const [code, setCode] = useState("");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onClaimed(await api.claim(code, username, password));
    } catch (failure) {
      setError(failure instanceof ApiError && failure.status === 403 ? t("setup.claim.wrong") : errorMessage(failure));
      setBusy(false);
    }
  }

  return (
    <form className="setup-form" onSubmit={submit}>
      <h1>{t("setup.claim.title", { device })}</h1>
      <p className="muted">{t("setup.claim.help")}</p>
      <label>
        {t("setup.claim.code")}
        <input
          data-testid="setup-claim-code"
          autoCapitalize="characters"
          autoComplete="off"
          required
          placeholder="XXXX-XXXX-XXXX"
          value={code}
          onChange={(event) => setCode(event.target.value)}
          autoFocus
        />
      </label>
      <label>
        {t("setup.claim.username")}
        <input
          data-testid="setup-admin-username"
          autoComplete="username"
          autoCapitalize="none"
          required
          value={username}
          onChange={(event) => setUsername(event.target.value)}
        />
      </label>
      <label>
        {t("setup.claim.password")}
        <input
          data-testid="setup-admin-password"
          type="password"
          autoComplete="new-password"
          required
          minLength={8}
          value={password}
          onChange={(event) => setPassword(event.target.value)}
        />
      </label>
      <button data-testid="setup-claim-submit" type="submit" className="button button--primary" disabled={busy}>
        {t("setup.claim.submit")}
      </button>
      {error && (
        <p data-testid="setup-error" className="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
