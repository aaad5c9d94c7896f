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
  const [challenge, setChallenge] = useState<string | null>(null); // the password was right: a code comes next
  const [code, setCode] = useState("");

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer = await api.login(username, password);
      if ("challenge" in answer) {
        setChallenge(answer.challenge);
        setBusy(false);
      } else onLogin(answer);
    } catch (failure) {
      setError(loginError(failure));
      setBusy(false);
    }
  }

  async function submitCode(event: FormEvent) {
    event.preventDefault();
    if (!challenge) return;
    setBusy(true);
    setError(null);
    try {
      onLogin(await api.loginCode(challenge, code));
    } catch (failure) {
      setCode("");
      setBusy(false);
      if (failure instanceof ApiError && failure.status === 401) setError(t("login.codeWrong"));
      else setError(loginError(failure));
    }
  }

  if (challenge)
    return (
      <main className="login">
        <form className="login-form" onSubmit={submitCode}>
          <h1>Vigia</h1>
          <label>
            {t("login.code")}
            <input
              data-testid="login-code"
              inputMode="numeric"
              autoComplete="one-time-code"
              required
              value={code}
              onChange={(event) => setCode(event.target.value.trim())}
              autoFocus
            />
          </label>
          <button data-testid="login-code-submit" type="submit" className="button button--primary" disabled={busy}>
            {t("login.codeSubmit")}
          </button>
          {error && (
            <p data-testid="login-error" className="error" role="alert">
              {error}
            </p>
          )}
        </form>
      </main>
    );

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
