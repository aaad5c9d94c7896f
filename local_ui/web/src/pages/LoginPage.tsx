import { useState, type FormEvent } from "react";
import { api, ApiError } from "../api/client";
import type { Session } from "../api/types";
import { t } from "../i18n";
import { errorMessage } from "../lib/errors";
import { formatDuration, formatTime } from "../lib/format";

export function LoginPage({ onLogin }: { onLogin(session: Session): void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onLogin(await api.login(username, password));
    } catch (failure) {
      setError(loginError(failure));
      setBusy(false);
    }
  }

  return (
    <main className="login">
      <form className="login-form" onSubmit={submit}>
        <h1>Vigia</h1>
        <label>
          {t("login.username")}
          <input
            data-testid="login-username"
            autoComplete="username"
            autoCapitalize="none"
            required
            value={username}
            onChange={(event) => setUsername(event.target.value)}
            autoFocus
          />
        </label>
        <label>
          {t("login.password")}
          <input
            data-testid="login-password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(event) => setPassword(event.target.value)}
          />
        </label>
        <button data-testid="login-submit" type="submit" className="button button--primary" disabled={busy}>
          {busy ? t("login.submitting") : t("login.submit")}
        </button>
        {error && (
          <p data-testid="login-error" className="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

function loginError(error: unknown): string {
  if (error instanceof ApiError && error.status === 401) return t("login.wrong");
  if (error instanceof ApiError && error.status === 429) {
    const wait = error.retryAfter ?? 60;
    return t("login.lockedOut", { wait: formatDuration(wait), at: formatTime(Date.now() / 1000 + wait) });
  }
  return errorMessage(error);
}
